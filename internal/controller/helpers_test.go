package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/envtest"
	"github.com/dockhand-dev/dockhand/gitpush"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/scanner"
)

var testEnv *envtest.Env

func TestMain(m *testing.M) {
	// Managers get a logger of their own; this silences controller-runtime's
	// complaint that the global one was never set.
	ctrl.SetLogger(logr.Discard())
	code := envtest.Main(m, &testEnv, envtest.Options{
		CRDPaths: []string{filepath.Join("testdata", "crds")},
	})
	cleanupBinary()
	os.Exit(code)
}

// waitTimeout bounds every eventually-style wait. It is generous: the
// machines running the tests are small and shared.
const waitTimeout = 60 * time.Second

// harness is a running manager watching some namespaces.
type harness struct {
	tags    *scanner.TagStore
	metrics *Metrics
	reg     *prometheus.Registry
	// stop stops the manager and waits for it; it runs at the end of the
	// test too, and may be called more than once.
	stop func()
}

// startController starts a manager with the three reconcilers, watching
// only the given namespaces (so the managers of tests running one after
// the other never see each other's objects), and stops it when the test
// ends. Its log is printed if the test fails.
func startController(t *testing.T, namespaces []string, tweak ...func(*engine.Options, *Options)) *harness {
	t.Helper()
	return startControllerAs(t, testEnv.Config, namespaces, tweak...)
}

// startControllerAs is startController connecting with cfg.
func startControllerAs(t *testing.T, cfg *rest.Config, namespaces []string, tweak ...func(*engine.Options, *Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	tags, err := scanner.OpenTagStore(filepath.Join(dir, "tags.db"))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scanner.New()
	if err != nil {
		t.Fatal(err)
	}
	git, err := gitpush.New(filepath.Join(dir, "git"), gitpush.WithRetryBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	eopts := engine.Options{Scanner: sc, Tags: tags, Git: git, DependencyRequeue: time.Second}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opts := Options{
		Concurrent:         2,
		WatchNamespaces:    namespaces,
		Metrics:            m,
		Logger:             zap.New(zap.WriteTo(logs), zap.Level(zapcore.Level(-1))),
		SkipNameValidation: true,
	}
	for _, f := range tweak {
		f(&eopts, &opts)
	}
	eng, err := engine.New(eopts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Engine = eng
	mgr, err := NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if err := tags.Close(); err != nil {
			t.Errorf("closing the tag store: %v", err)
		}
		if t.Failed() {
			t.Logf("manager log:\n%s", logs.String())
		}
	})
	return &harness{tags: tags, metrics: m, reg: reg, stop: stop}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually polls cond until it returns nil, failing the test with its
// last error after waitTimeout.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %v", what, waitTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetch reads obj afresh from the API server.
func fetch(t *testing.T, obj client.Object) error {
	t.Helper()
	return testEnv.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
}

// readyIs checks obj's Ready condition against status and reason (any
// reason when empty) and that it describes the current generation.
func readyIs(obj interface {
	client.Object
	GetConditions() []metav1.Condition
}, status metav1.ConditionStatus, reason string) error {
	c := meta.FindStatusCondition(obj.GetConditions(), imagev1.ReadyCondition)
	switch {
	case c == nil:
		return errors.New("no Ready condition")
	case c.Status != status || (reason != "" && c.Reason != reason):
		return fmt.Errorf("Ready = %s/%s (%q), want %s/%s", c.Status, c.Reason, c.Message, status, reason)
	case c.ObservedGeneration != obj.GetGeneration():
		return fmt.Errorf("Ready is for generation %d, object at %d", c.ObservedGeneration, obj.GetGeneration())
	}
	return nil
}

// condition returns obj's condition typ, or nil.
func condition(obj interface{ GetConditions() []metav1.Condition }, typ string) *metav1.Condition {
	return meta.FindStatusCondition(obj.GetConditions(), typ)
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := testEnv.Client.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %s %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
}

// createClusterScoped creates obj and deletes it when the test ends.
func createClusterScoped(t *testing.T, obj client.Object) {
	t.Helper()
	create(t, obj)
	t.Cleanup(func() {
		if err := testEnv.Client.Delete(context.Background(), obj); client.IgnoreNotFound(err) != nil {
			t.Errorf("deleting %s: %v", obj.GetName(), err)
		}
	})
}

// update reads obj, applies change and writes it back, retrying on
// conflicts.
func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	for range 10 {
		if err := fetch(t, obj); err != nil {
			t.Fatal(err)
		}
		change(obj)
		err := testEnv.Client.Update(t.Context(), obj)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatalf("updating %s: %v", obj.GetName(), err)
		}
	}
	t.Fatalf("updating %s: conflicts every time", obj.GetName())
}

// Builders.

func newRepository(ns, name, image string, opts ...func(*imagev1.ImageRepository)) *imagev1.ImageRepository {
	r := &imagev1.ImageRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: imagev1.ImageRepositorySpec{
			Image:    image,
			Interval: metav1.Duration{Duration: time.Hour},
			Insecure: true, // the fixture registry serves plain HTTP
		},
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func withSecretRef(name string) func(*imagev1.ImageRepository) {
	return func(r *imagev1.ImageRepository) { r.Spec.SecretRef = &imagev1.LocalObjectReference{Name: name} }
}

func withAccessFrom(matchLabels map[string]string) func(*imagev1.ImageRepository) {
	return func(r *imagev1.ImageRepository) {
		r.Spec.AccessFrom = &imagev1.AccessFrom{NamespaceSelectors: []imagev1.NamespaceSelector{{MatchLabels: matchLabels}}}
	}
}

func newPolicy(ns, name, repo string, opts ...func(*imagev1.ImagePolicy)) *imagev1.ImagePolicy {
	p := &imagev1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: imagev1.ImagePolicySpec{
			ImageRepositoryRef: imagev1.NamespacedObjectReference{Name: repo},
			Policy:             imagev1.ImagePolicyChoice{SemVer: &imagev1.SemVerPolicy{Range: ">=1.0.0"}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withSemver(rng string) func(*imagev1.ImagePolicy) {
	return func(p *imagev1.ImagePolicy) { p.Spec.Policy.SemVer = &imagev1.SemVerPolicy{Range: rng} }
}

func withRepositoryNamespace(ns string) func(*imagev1.ImagePolicy) {
	return func(p *imagev1.ImagePolicy) { p.Spec.ImageRepositoryRef.Namespace = ns }
}

func withLabels(l map[string]string) func(*imagev1.ImagePolicy) {
	return func(p *imagev1.ImagePolicy) { p.Labels = l }
}

func newAutomation(ns, name string, opts ...func(*imagev1.ImageUpdateAutomation)) *imagev1.ImageUpdateAutomation {
	a := &imagev1.ImageUpdateAutomation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: imagev1.ImageUpdateAutomationSpec{
			Interval: metav1.Duration{Duration: time.Hour},
			GitSpec: &imagev1.GitSpec{
				Checkout: &imagev1.GitCheckoutSpec{Reference: imagev1.GitRepositoryRef{Branch: "main"}},
				Commit:   imagev1.CommitSpec{Author: imagev1.CommitUser{Name: "dockhand", Email: "dockhand@example.com"}},
				Push:     &imagev1.PushSpec{Branch: "main"},
			},
			Update: &imagev1.UpdateStrategy{Strategy: imagev1.UpdateStrategySetters, Path: "./apps"},
		},
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

func withRemote(url string) func(*imagev1.ImageUpdateAutomation) {
	return func(a *imagev1.ImageUpdateAutomation) { a.Spec.GitSpec.Remote = &imagev1.GitRemoteSpec{URL: url} }
}

func withSourceRef(name string) func(*imagev1.ImageUpdateAutomation) {
	return func(a *imagev1.ImageUpdateAutomation) {
		a.Spec.SourceRef = &imagev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: name}
	}
}

func withPolicySelector(l map[string]string) func(*imagev1.ImageUpdateAutomation) {
	return func(a *imagev1.ImageUpdateAutomation) { a.Spec.PolicySelector = &metav1.LabelSelector{MatchLabels: l} }
}

// manifest is a Deployment whose image is marked for policy ns:name.
func manifest(image, ns, policy string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s # {"$imagepolicy": "%s:%s"}
`, image, ns, policy)
}
