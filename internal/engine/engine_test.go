package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/gitpush"
	"github.com/dockhand-dev/dockhand/scanner"
)

// memStore is a Store over maps, standing in for the API server or the
// runner's files; what the engine does with what it reads is under test.
type memStore struct {
	mu       sync.Mutex
	repos    map[string]*imagev1.ImageRepository
	policies map[string]*imagev1.ImagePolicy
	secrets  map[string]map[string][]byte
	sas      map[string][]string
	nsLabels map[string]map[string]string
	gitRepos map[string]*unstructured.Unstructured
}

func newMemStore() *memStore {
	return &memStore{
		repos:    map[string]*imagev1.ImageRepository{},
		policies: map[string]*imagev1.ImagePolicy{},
		secrets:  map[string]map[string][]byte{},
		sas:      map[string][]string{},
		nsLabels: map[string]map[string]string{},
		gitRepos: map[string]*unstructured.Unstructured{},
	}
}

func (s *memStore) GetImageRepository(_ context.Context, ns, name string) (*imagev1.ImageRepository, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[key(ns, name)]
	if !ok {
		return nil, errNotFound("ImageRepository", ns, name)
	}
	return r.DeepCopy(), nil
}

func (s *memStore) ListImagePolicies(_ context.Context, ns string, sel labels.Selector) ([]*imagev1.ImagePolicy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*imagev1.ImagePolicy
	for _, p := range s.policies {
		if p.Namespace == ns && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p.DeepCopy())
		}
	}
	return out, nil
}

func (s *memStore) GetSecretData(_ context.Context, ns, name string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.secrets[key(ns, name)]
	if !ok {
		return nil, errNotFound("Secret", ns, name)
	}
	return d, nil
}

func (s *memStore) GetServiceAccountPullSecrets(_ context.Context, ns, name string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.sas[key(ns, name)]
	if !ok {
		return nil, errNotFound("ServiceAccount", ns, name)
	}
	return d, nil
}

func (s *memStore) GetNamespaceLabels(_ context.Context, ns string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nsLabels[ns], nil
}

func (s *memStore) GetGitRepository(_ context.Context, ns, name string) (*unstructured.Unstructured, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.gitRepos[key(ns, name)]
	if !ok {
		return nil, errNotFound("GitRepository", ns, name)
	}
	return r.DeepCopy(), nil
}

func (s *memStore) putRepo(r *imagev1.ImageRepository) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[key(r.Namespace, r.Name)] = r.DeepCopy()
}

func (s *memStore) putPolicy(p *imagev1.ImagePolicy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies[key(p.Namespace, p.Name)] = p.DeepCopy()
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type harness struct {
	engine *Engine
	store  *memStore
	clock  *clock
	reg    *registry.Registry
	git    *gitserver.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	sc, err := scanner.New(scanner.WithRetryPolicy(scanner.RetryPolicy{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.Close)
	tags, err := scanner.OpenTagStore(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tags.Close() })
	gc, err := gitpush.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	e, err := New(Options{Scanner: sc, Tags: tags, Git: gc, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{engine: e, store: newMemStore(), clock: clk, reg: registry.Start(t), git: gitserver.Start(t)}
}

func newRepo(name, image string) *imagev1.ImageRepository {
	return &imagev1.ImageRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps", Generation: 1},
		Spec: imagev1.ImageRepositorySpec{
			Image:    image,
			Interval: metav1.Duration{Duration: 5 * time.Minute},
			Insecure: true,
		},
	}
}

func newSemverPolicy(name, repo, rng string) *imagev1.ImagePolicy {
	return &imagev1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps", Generation: 1},
		Spec: imagev1.ImagePolicySpec{
			ImageRepositoryRef: imagev1.NamespacedObjectReference{Name: repo},
			Policy:             imagev1.ImagePolicyChoice{SemVer: &imagev1.SemVerPolicy{Range: rng}},
		},
	}
}

func newAutomation(name, url string) *imagev1.ImageUpdateAutomation {
	return &imagev1.ImageUpdateAutomation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps", Generation: 1},
		Spec: imagev1.ImageUpdateAutomationSpec{
			Interval: metav1.Duration{Duration: 10 * time.Minute},
			GitSpec: &imagev1.GitSpec{
				Remote: &imagev1.GitRemoteSpec{URL: url},
				Commit: imagev1.CommitSpec{
					Author:          imagev1.CommitUser{Name: "dockhand", Email: "bot@example.com"},
					MessageTemplate: "Update images\n\n{{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }}\n{{ end }}",
				},
				Push: &imagev1.PushSpec{Branch: "main"},
			},
			Update: &imagev1.UpdateStrategy{Strategy: imagev1.UpdateStrategySetters, Path: "clusters"},
		},
	}
}

func condition(obj conditioned, typ string) *metav1.Condition {
	return meta.FindStatusCondition(obj.GetConditions(), typ)
}

func wantReady(t *testing.T, what string, obj conditioned, out Outcome) {
	t.Helper()
	if out.Err != nil {
		t.Fatalf("%s: Outcome.Err = %v, want none", what, out.Err)
	}
	if c := condition(obj, imagev1.ReadyCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("%s: Ready = %+v, want True", what, c)
	}
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: web
          # the web front end
          image: %s:1.0.0 # {"$imagepolicy": "apps:web"}
`

func TestPipelineEndToEnd(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	image := h.reg.Repo("team/web")
	h.reg.PushTags(t, "team/web", "1.0.0", "1.1.0", "latest", "main-abc1234")
	h.git.CreateRepo(t, "fleet", map[string]string{
		"clusters/web.yaml": fmt.Sprintf(deployment, image),
		"README.md":         "fleet\n",
	})

	repo := newRepo("web", image)
	out := h.engine.ReconcileRepository(ctx, h.store, repo)
	wantReady(t, "first scan", repo, out)
	if got := repo.Status.LastScanResult; got == nil || got.TagCount != 4 {
		t.Fatalf("lastScanResult = %+v, want 4 tags", got)
	}
	if out.RequeueAfter != 5*time.Minute {
		t.Errorf("RequeueAfter = %v, want the 5m interval", out.RequeueAfter)
	}
	if repo.Status.CanonicalImageName != image {
		t.Errorf("canonicalImageName = %q, want %q", repo.Status.CanonicalImageName, image)
	}
	h.store.putRepo(repo)

	pol := newSemverPolicy("web", "web", ">=1.0.0")
	out = h.engine.ReconcilePolicy(ctx, h.store, pol)
	wantReady(t, "policy", pol, out)
	if got, want := pol.Status.LatestRef, (&imagev1.ImageRef{Name: image, Tag: "1.1.0"}); got == nil || *got != *want {
		t.Fatalf("latestRef = %+v, want %+v", got, want)
	}
	if msg := condition(pol, imagev1.ReadyCondition).Message; !strings.Contains(msg, "2 of 4 tags ignored") {
		t.Errorf("Ready message = %q, want the ignored tags explained", msg)
	}
	h.store.putPolicy(pol)

	auto := newAutomation("fleet", h.git.HTTP.URL("fleet"))
	out = h.engine.ReconcileAutomation(ctx, h.store, auto)
	wantReady(t, "first automation run", auto, out)
	head := h.git.BranchHead(t, "fleet", "main")
	if auto.Status.LastPushCommit != head {
		t.Errorf("lastPushCommit = %s, want the remote head %s", auto.Status.LastPushCommit, head)
	}
	got := h.git.FileAt(t, "fleet", "main", "clusters/web.yaml")
	if want := strings.Replace(fmt.Sprintf(deployment, image), ":1.0.0", ":1.1.0", 1); got != want {
		t.Errorf("clusters/web.yaml after the run:\n%s\nwant:\n%s", got, want)
	}
	commits := h.git.Commits(t, "fleet", "main")
	if msg := commits[0].Message; !strings.Contains(msg, image+":1.0.0 -> "+image+":1.1.0") {
		t.Errorf("commit message = %q, want the change listed", msg)
	}
	if auto.Status.ObservedSourceRevision != "main@sha1:"+head || len(auto.Status.History) != 1 ||
		auto.Status.History[0].Outcome != imagev1.RunPushed {
		t.Errorf("status = revision %q, history %+v; want main@sha1:%s and one Pushed run", auto.Status.ObservedSourceRevision, auto.Status.History, head)
	}

	// Nothing new: the run ends after the ref lookup, no commit.
	out = h.engine.ReconcileAutomation(ctx, h.store, auto)
	wantReady(t, "second automation run", auto, out)
	if n := len(h.git.Commits(t, "fleet", "main")); n != len(commits) {
		t.Errorf("commits after a run with nothing new = %d, want %d", n, len(commits))
	}
	if len(auto.Status.History) != 1 {
		t.Errorf("history after a skipped run = %d entries, want 1", len(auto.Status.History))
	}

	// A new tag: the next scan finds it, the policy moves, a commit lands.
	h.reg.PushTags(t, "team/web", "1.2.0")
	out = h.engine.ReconcileRepository(ctx, h.store, repo)
	if out.Err != nil || repo.Status.LastScanResult.TagCount != 4 {
		t.Fatalf("scan before the interval: %v, %d tags; want no scan", out.Err, repo.Status.LastScanResult.TagCount)
	}
	h.clock.Advance(5 * time.Minute)
	out = h.engine.ReconcileRepository(ctx, h.store, repo)
	wantReady(t, "scan after the interval", repo, out)
	if repo.Status.LastScanResult.TagCount != 5 {
		t.Fatalf("tag count after the interval = %d, want 5", repo.Status.LastScanResult.TagCount)
	}
	h.store.putRepo(repo)
	out = h.engine.ReconcilePolicy(ctx, h.store, pol)
	wantReady(t, "policy after the new tag", pol, out)
	if pol.Status.LatestRef.Tag != "1.2.0" || pol.Status.ObservedPreviousRef == nil || pol.Status.ObservedPreviousRef.Tag != "1.1.0" {
		t.Fatalf("latestRef %+v, previous %+v; want 1.2.0 after 1.1.0", pol.Status.LatestRef, pol.Status.ObservedPreviousRef)
	}
	h.store.putPolicy(pol)
	out = h.engine.ReconcileAutomation(ctx, h.store, auto)
	wantReady(t, "automation after the new tag", auto, out)
	if got := h.git.FileAt(t, "fleet", "main", "clusters/web.yaml"); !strings.Contains(got, image+":1.2.0 #") {
		t.Errorf("clusters/web.yaml = %q, want tag 1.2.0", got)
	}
	if len(auto.Status.History) != 2 {
		t.Errorf("history = %d entries, want 2", len(auto.Status.History))
	}
}

func TestDigestPinning(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	image := h.reg.Repo("team/api")
	digest := h.reg.PushTags(t, "team/api", "2.0.0")
	repo := newRepo("api", image)
	wantReady(t, "scan", repo, h.engine.ReconcileRepository(ctx, h.store, repo))
	h.store.putRepo(repo)

	pol := newSemverPolicy("api", "api", "2.x")
	pol.Spec.DigestReflectionPolicy = imagev1.ReflectIfNotPresent
	wantReady(t, "policy", pol, h.engine.ReconcilePolicy(ctx, h.store, pol))
	if got := pol.Status.LatestRef; got == nil || got.Digest != digest.String() {
		t.Fatalf("latestRef = %+v, want digest %s", got, digest)
	}
}

func TestPlanAutomationPushesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	image := h.reg.Repo("team/web")
	h.git.CreateRepo(t, "fleet", map[string]string{"clusters/web.yaml": fmt.Sprintf(deployment, image)})
	before := h.git.BranchHead(t, "fleet", "main")
	pol := newSemverPolicy("web", "web", ">=1.0.0")
	pol.Status.LatestRef = &imagev1.ImageRef{Name: image, Tag: "1.5.0"}
	h.store.putPolicy(pol)

	auto := newAutomation("fleet", h.git.HTTP.URL("fleet"))
	plan, out := h.engine.PlanAutomation(ctx, h.store, auto)
	if out.Err != nil {
		t.Fatalf("PlanAutomation: %v", out.Err)
	}
	if len(plan.Updates) != 1 || !strings.Contains(string(plan.Updates[0].After), ":1.5.0 #") || plan.Message == "" {
		t.Fatalf("plan = %d updates, message %q; want the change and its message", len(plan.Updates), plan.Message)
	}
	if after := h.git.BranchHead(t, "fleet", "main"); after != before {
		t.Errorf("remote head moved from %s to %s in a dry run", before, after)
	}
	// A real run afterwards still makes the change (the dry run left the
	// cached work tree clean).
	wantReady(t, "run after the plan", auto, h.engine.ReconcileAutomation(ctx, h.store, auto))
	if got := h.git.FileAt(t, "fleet", "main", "clusters/web.yaml"); !strings.Contains(got, ":1.5.0 #") {
		t.Errorf("clusters/web.yaml = %q, want tag 1.5.0", got)
	}
}

func TestFailuresAreClassified(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()

	t.Run("missing secret is waited for", func(t *testing.T) {
		repo := newRepo("private", h.reg.Repo("team/private"))
		repo.Spec.SecretRef = &imagev1.LocalObjectReference{Name: "regcred"}
		out := h.engine.ReconcileRepository(ctx, h.store, repo)
		if out.Err != nil || out.Terminal || out.RequeueAfter != 30*time.Second {
			t.Errorf("Outcome = %+v, want a quiet requeue after 30s", out)
		}
		if c := condition(repo, imagev1.ReadyCondition); c == nil || c.Reason != imagev1.DependencyNotReadyReason || !strings.Contains(c.Message, "regcred") {
			t.Errorf("Ready = %+v, want DependencyNotReady naming the secret", c)
		}
	})

	t.Run("image with a tag stalls", func(t *testing.T) {
		repo := newRepo("tagged", h.reg.Repo("team/web")+":1.0")
		out := h.engine.ReconcileRepository(ctx, h.store, repo)
		if !out.Terminal {
			t.Errorf("Outcome = %+v, want terminal", out)
		}
		if c := condition(repo, imagev1.StalledCondition); c == nil || c.Reason != imagev1.ImageURLInvalidReason {
			t.Errorf("Stalled = %+v, want ImageURLInvalid", c)
		}
	})

	t.Run("unreachable registry is retried", func(t *testing.T) {
		repo := newRepo("gone", "127.0.0.1:1/team/web")
		out := h.engine.ReconcileRepository(ctx, h.store, repo)
		if out.Err == nil || out.Terminal {
			t.Errorf("Outcome = %+v, want a retryable error", out)
		}
		if c := condition(repo, imagev1.ReadyCondition); c == nil || c.Reason != imagev1.ReadOperationFailedReason {
			t.Errorf("Ready = %+v, want ReadOperationFailed", c)
		}
		if c := condition(repo, imagev1.ReconcilingCondition); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("Reconciling = %+v, want True while retrying", c)
		}
	})

	t.Run("bad range stalls", func(t *testing.T) {
		pol := newSemverPolicy("bad", "web", ">=1.0.0 <<2")
		out := h.engine.ReconcilePolicy(ctx, h.store, pol)
		if !out.Terminal {
			t.Errorf("Outcome = %+v, want terminal", out)
		}
		if c := condition(pol, imagev1.ReadyCondition); c == nil || c.Reason != imagev1.PolicyInvalidReason || !strings.Contains(c.Message, "spec.policy.semver.range") {
			t.Errorf("Ready = %+v, want PolicyInvalid naming the field", c)
		}
	})

	t.Run("two policy choices stall", func(t *testing.T) {
		pol := newSemverPolicy("two", "web", "1.x")
		pol.Spec.Policy.Alphabetical = &imagev1.AlphabeticalPolicy{}
		out := h.engine.ReconcilePolicy(ctx, h.store, pol)
		if !out.Terminal {
			t.Errorf("Outcome = %+v, want terminal", out)
		}
	})

	t.Run("policy waits for its repository", func(t *testing.T) {
		pol := newSemverPolicy("orphan", "nowhere", "1.x")
		out := h.engine.ReconcilePolicy(ctx, h.store, pol)
		if out.Err != nil || out.RequeueAfter == 0 {
			t.Errorf("Outcome = %+v, want a quiet requeue", out)
		}
		if c := condition(pol, imagev1.ReadyCondition); c == nil || c.Reason != imagev1.DependencyNotReadyReason {
			t.Errorf("Ready = %+v, want DependencyNotReady", c)
		}
	})

	t.Run("cross-namespace access is checked", func(t *testing.T) {
		image := h.reg.Repo("team/shared")
		h.reg.PushTags(t, "team/shared", "1.0.0")
		repo := newRepo("shared", image)
		repo.Namespace = "platform"
		wantReady(t, "scan", repo, h.engine.ReconcileRepository(ctx, h.store, repo))
		h.store.putRepo(repo)

		pol := newSemverPolicy("shared", "shared", "1.x")
		pol.Spec.ImageRepositoryRef.Namespace = "platform"
		h.engine.ReconcilePolicy(ctx, h.store, pol)
		if c := condition(pol, imagev1.ReadyCondition); c == nil || c.Reason != imagev1.AccessDeniedReason {
			t.Errorf("Ready without accessFrom = %+v, want AccessDenied", c)
		}

		repo.Spec.AccessFrom = &imagev1.AccessFrom{NamespaceSelectors: []imagev1.NamespaceSelector{{MatchLabels: map[string]string{"team": "apps"}}}}
		h.store.putRepo(repo)
		h.store.nsLabels["apps"] = map[string]string{"team": "apps"}
		wantReady(t, "policy with access", pol, h.engine.ReconcilePolicy(ctx, h.store, pol))
	})

	t.Run("pull request without push branch stalls", func(t *testing.T) {
		auto := newAutomation("pr", h.git.HTTP.URL("fleet"))
		auto.Spec.GitSpec.Push = nil
		auto.Spec.GitSpec.PullRequest = &imagev1.PullRequestSpec{Provider: imagev1.PullRequestGitHub}
		out := h.engine.ReconcileAutomation(ctx, h.store, auto)
		if !out.Terminal || !errors.Is(out.Err, out.Err) {
			t.Errorf("Outcome = %+v, want terminal", out)
		}
	})

	t.Run("a git server that hangs fails at the remote's timeout and is retried", func(t *testing.T) {
		h.git.CreateRepo(t, "slow", map[string]string{"clusters/a.yaml": "a: 1\n"})
		f := h.git.HTTP.InjectFault(gitserver.Fault{Repo: "slow", Hang: true})
		t.Cleanup(f.Release)
		auto := newAutomation("slow", h.git.HTTP.URL("slow"))
		// Every request hangs: no exchange can end within any timeout.
		auto.Spec.GitSpec.Remote.Timeout = &metav1.Duration{Duration: 300 * time.Millisecond}
		out := h.engine.ReconcileAutomation(ctx, h.store, auto)
		if out.Err == nil || out.Terminal {
			t.Fatalf("Outcome = %+v, want a retryable error", out)
		}
		if !errors.Is(out.Err, context.DeadlineExceeded) {
			t.Errorf("Outcome.Err = %v, want it to match context.DeadlineExceeded", out.Err)
		}
		if c := condition(auto, imagev1.ReadyCondition); c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "timeout of 300ms") {
			t.Errorf("Ready = %+v, want False naming the timeout", c)
		}
	})

	t.Run("rejected credentials are reported without their value", func(t *testing.T) {
		auth := gitserver.Start(t, gitserver.WithBasicAuth("bot", "right-password"))
		auth.CreateRepo(t, "locked", map[string]string{"clusters/a.yaml": "a: 1\n"})
		h.store.secrets[key("apps", "git")] = map[string][]byte{"username": []byte("bot"), "password": []byte("wrong-password-s3cret")}
		auto := newAutomation("locked", auth.HTTP.URL("locked"))
		auto.Spec.GitSpec.Remote.SecretRef = &imagev1.LocalObjectReference{Name: "git"}
		// Plain HTTP with credentials must be refused before anything is sent.
		out := h.engine.ReconcileAutomation(ctx, h.store, auto)
		if out.Err == nil {
			t.Fatalf("Outcome = %+v, want an error", out)
		}
		for _, s := range []string{out.Err.Error(), condition(auto, imagev1.ReadyCondition).Message, auto.Status.History[0].Message} {
			if strings.Contains(s, "wrong-password-s3cret") {
				t.Errorf("secret value leaked: %q", s)
			}
		}
	})
}

// The remote's timeout comes from spec.git.remote.timeout or the
// GitRepository's spec.timeout, 60s when neither is set; a GitRepository
// timeout that is not a duration is an invalid source.
func TestGitSourceTimeout(t *testing.T) {
	e := &Engine{}
	store := newMemStore()
	gitRepo := func(name, timeout string) {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
			"metadata": map[string]any{"namespace": "apps", "name": name},
			"spec":     map[string]any{"url": "https://git.example/fleet", "ref": map[string]any{"branch": "main"}},
		}}
		if timeout != "" {
			_ = unstructured.SetNestedField(u.Object, timeout, "spec", "timeout")
		}
		store.gitRepos[key("apps", name)] = u
	}
	gitRepo("plain", "")
	gitRepo("slow", "2m30s")
	gitRepo("broken", "soon")
	withSource := func(name string) *imagev1.ImageUpdateAutomation {
		a := newAutomation("a", "")
		a.Spec.GitSpec.Remote = nil
		a.Spec.SourceRef = &imagev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: name}
		return a
	}
	withTimeout := newAutomation("a", "https://git.example/fleet")
	withTimeout.Spec.GitSpec.Remote.Timeout = &metav1.Duration{Duration: 5 * time.Minute}
	tests := []struct {
		name    string
		auto    *imagev1.ImageUpdateAutomation
		want    time.Duration
		invalid bool
	}{
		{name: "remote without timeout", auto: newAutomation("a", "https://git.example/fleet"), want: DefaultGitTimeout},
		{name: "remote with timeout", auto: withTimeout, want: 5 * time.Minute},
		{name: "GitRepository without timeout", auto: withSource("plain"), want: DefaultGitTimeout},
		{name: "GitRepository with timeout", auto: withSource("slow"), want: 150 * time.Second},
		{name: "GitRepository with a bad timeout", auto: withSource("broken"), invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := e.gitSource(t.Context(), store, tt.auto)
			var invalid *invalidSourceError
			if tt.invalid {
				if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "spec.timeout") {
					t.Fatalf("gitSource error = %v, want an invalid source naming spec.timeout", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if src.remote.Timeout != tt.want {
				t.Errorf("timeout = %v, want %v", src.remote.Timeout, tt.want)
			}
		})
	}
}

// With digestReflectionPolicy Always the digest is read again once
// spec.interval has passed (or when a reconcile is requested), so a tag
// pushed again with other content moves latestRef; in between, the one
// read is kept and the registry is not asked.
func TestDigestReflectionAlways(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	first := h.reg.PushTags(t, "team/moving", "1.0.0")
	repo := newRepo("moving", h.reg.Repo("team/moving"))
	wantReady(t, "scan", repo, h.engine.ReconcileRepository(ctx, h.store, repo))
	h.store.putRepo(repo)

	pol := newSemverPolicy("moving", "moving", "1.x")
	pol.Spec.DigestReflectionPolicy = imagev1.ReflectAlways
	pol.Spec.Interval = &metav1.Duration{Duration: 10 * time.Minute}
	reconcile := func(what string) string {
		t.Helper()
		out := h.engine.ReconcilePolicy(ctx, h.store, pol)
		wantReady(t, what, pol, out)
		if out.RequeueAfter <= 0 || out.RequeueAfter > 10*time.Minute {
			t.Errorf("%s: RequeueAfter = %v, want at most the interval", what, out.RequeueAfter)
		}
		return pol.Status.LatestRef.Digest
	}
	if got := reconcile("first"); got != first.String() {
		t.Fatalf("digest = %s, want %s", got, first)
	}

	second := h.reg.PushImage(t, "team/moving", "1.0.0") // same tag, new content
	h.reg.ResetRequests()
	h.clock.Advance(5 * time.Minute)
	if got := reconcile("before the interval"); got != first.String() {
		t.Errorf("digest before the interval = %s, want the one read, %s", got, first)
	}
	if n := len(h.reg.Requests()); n != 0 {
		t.Errorf("before the interval the registry was asked %d times, want 0", n)
	}

	h.clock.Advance(5 * time.Minute)
	if got := reconcile("at the interval"); got != second.String() {
		t.Errorf("digest at the interval = %s, want the new one, %s", got, second)
	}

	third := h.reg.PushImage(t, "team/moving", "1.0.0")
	pol.Annotations = map[string]string{imagev1.ReconcileRequestAnnotation: "now"}
	if got := reconcile("on request"); got != third.String() {
		t.Errorf("digest on request = %s, want the new one, %s", got, third)
	}
}

// A suspended object is not reconciled: nothing is asked of the registry,
// Ready stays as it was, and Reconciling and Stalled go.
func TestSuspendedRepositoryIsLeftAlone(t *testing.T) {
	h := newHarness(t)
	h.reg.PushTags(t, "team/web", "1.0.0")
	repo := newRepo("web", h.reg.Repo("team/web"))
	wantReady(t, "scan", repo, h.engine.ReconcileRepository(t.Context(), h.store, repo))
	ready := *condition(repo, imagev1.ReadyCondition)

	repo.Spec.Suspend = true
	repo.Generation++
	setCondition(repo, imagev1.ReconcilingCondition, metav1.ConditionTrue, "Progressing", "", h.clock.Now())
	h.reg.ResetRequests()
	h.clock.Advance(time.Hour) // a scan would be due
	out := h.engine.ReconcileRepository(t.Context(), h.store, repo)
	if out.Err != nil || out.RequeueAfter != 0 {
		t.Errorf("Outcome = %+v, want nothing to do", out)
	}
	if n := len(h.reg.Requests()); n != 0 {
		t.Errorf("a suspended repository asked the registry %d times", n)
	}
	if got := condition(repo, imagev1.ReadyCondition); got == nil || *got != ready {
		t.Errorf("Ready = %+v, want it as it was, %+v", got, ready)
	}
	if condition(repo, imagev1.ReconcilingCondition) != nil || condition(repo, imagev1.StalledCondition) != nil {
		t.Errorf("conditions = %+v, want no Reconciling or Stalled", repo.Status.Conditions)
	}
}

// Deleting a repository forgets its stored tags; a repository never
// scanned is no error.
func TestDeleteRepositoryForgetsTags(t *testing.T) {
	h := newHarness(t)
	h.reg.PushTags(t, "team/web", "1.0.0")
	repo := newRepo("web", h.reg.Repo("team/web"))
	wantReady(t, "scan", repo, h.engine.ReconcileRepository(t.Context(), h.store, repo))
	if err := h.engine.DeleteRepository(repo); err != nil {
		t.Fatal(err)
	}
	if _, err := h.engine.opts.Tags.Tags(key(repo.Namespace, repo.Name)); !errors.Is(err, scanner.ErrNoTags) {
		t.Errorf("tags after DeleteRepository: %v, want ErrNoTags", err)
	}
	if err := h.engine.DeleteRepository(newRepo("never", h.reg.Repo("team/never"))); err != nil {
		t.Errorf("DeleteRepository of a repository never scanned: %v", err)
	}
}

// A private registry over TLS: credentials from the imagePullSecrets of
// spec.serviceAccountName, its CA from spec.certSecretRef. A wrong password
// is AuthenticationFailed and retried, without the password in the status;
// a registry asking to slow down is retried no sooner than it asked.
func TestPrivateRegistryCredentials(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	reg := registry.Start(t, registry.WithTLS(), registry.WithBasicAuth("ci", "s3cret-pull"))
	reg.PushTags(t, "team/private", "1.0.0", "1.1.0")
	dockerConfig := func(password string) map[string][]byte {
		auth := base64.StdEncoding.EncodeToString([]byte("ci:" + password))
		return map[string][]byte{".dockerconfigjson": fmt.Appendf(nil, `{"auths": {%q: {"auth": %q}}}`, reg.Host(), auth)}
	}
	h.store.secrets[key("apps", "pull")] = dockerConfig("s3cret-pull")
	h.store.secrets[key("apps", "wrong")] = dockerConfig("not-the-s3cret")
	h.store.secrets[key("apps", "ca")] = map[string][]byte{"ca.crt": reg.CACertPEM()}
	h.store.sas[key("apps", "builder")] = []string{"pull"}

	repo := newRepo("private", reg.Repo("team/private"))
	repo.Spec.Insecure = false
	repo.Spec.ServiceAccountName = "builder"
	repo.Spec.CertSecretRef = &imagev1.LocalObjectReference{Name: "ca"}
	wantReady(t, "scan with the service account's pull secret", repo, h.engine.ReconcileRepository(ctx, h.store, repo))
	if got := repo.Status.LastScanResult; got == nil || got.TagCount != 2 {
		t.Errorf("lastScanResult = %+v, want 2 tags", got)
	}

	bad := newRepo("wrong", reg.Repo("team/private"))
	bad.Spec.Insecure = false
	bad.Spec.SecretRef = &imagev1.LocalObjectReference{Name: "wrong"}
	bad.Spec.CertSecretRef = &imagev1.LocalObjectReference{Name: "ca"}
	out := h.engine.ReconcileRepository(ctx, h.store, bad)
	c := condition(bad, imagev1.ReadyCondition)
	if out.Err == nil || out.Terminal || c == nil || c.Reason != imagev1.AuthenticationFailedReason {
		t.Errorf("wrong password: Outcome %+v, Ready %+v; want a retried AuthenticationFailed", out, c)
	}
	if c != nil && strings.Contains(c.Message, "not-the-s3cret") {
		t.Errorf("the password is in the status: %q", c.Message)
	}

	reg.InjectFault(registry.Fault{Path: regexp.MustCompile(`/tags/list$`), Status: 429, RetryAfter: 2 * time.Minute})
	repo.Annotations = map[string]string{imagev1.ReconcileRequestAnnotation: "again"}
	out = h.engine.ReconcileRepository(ctx, h.store, repo)
	c = condition(repo, imagev1.ReadyCondition)
	if out.Err == nil || out.RequeueAfter < 2*time.Minute || c == nil || c.Reason != imagev1.ReadOperationFailedReason {
		t.Errorf("429 with Retry-After: Outcome %+v, Ready %+v; want ReadOperationFailed retried after at least 2m", out, c)
	}
}

// The docker config is asked for at each scan: credentials that change
// between scans (a new login) are used by the next one.
func TestDockerConfigAskedAtEachScan(t *testing.T) {
	h := newHarness(t)
	reg := registry.Start(t, registry.WithBasicAuth("ci", "right-pw"))
	reg.PushTags(t, "team/app", "1.0.0")
	var mu sync.Mutex
	password := "stale-pw"
	e, err := New(Options{Scanner: h.engine.opts.Scanner, Tags: h.engine.opts.Tags, Git: h.engine.opts.Git, Now: h.clock.Now,
		DockerConfig: func() *scanner.DockerConfig {
			mu.Lock()
			defer mu.Unlock()
			return &scanner.DockerConfig{Auths: map[string]scanner.DockerAuth{reg.Host(): {Username: "ci", Password: password}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	repo := newRepo("app", reg.Repo("team/app"))
	e.ReconcileRepository(t.Context(), h.store, repo)
	if c := condition(repo, imagev1.ReadyCondition); c == nil || c.Reason != imagev1.AuthenticationFailedReason {
		t.Fatalf("with the stale password: Ready = %+v, want AuthenticationFailed", c)
	}
	mu.Lock()
	password = "right-pw"
	mu.Unlock()
	h.clock.Advance(time.Minute)
	wantReady(t, "after a new login", repo, e.ReconcileRepository(t.Context(), h.store, repo))
}
