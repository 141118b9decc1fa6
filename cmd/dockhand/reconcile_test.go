package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/envtest"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/gitpush"
	"github.com/dockhand-dev/dockhand/internal/controller"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/scanner"
)

// startTestController runs the controller in this process, watching ns of
// env, until the test ends.
func startTestController(t *testing.T, env *envtest.Env, ns string) {
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
	git, err := gitpush.New(filepath.Join(dir, "git"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Scanner: sc, Tags: tags, Git: git, DependencyRequeue: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := controller.NewManager(env.Config, controller.Options{
		Engine: eng, WatchNamespaces: []string{ns}, Logger: logr.Discard(), SkipNameValidation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
		_ = tags.Close()
	})
}

// TestClusterCommands runs reconcile, suspend and resume against a real
// API server with the controller running.
func TestClusterCommands(t *testing.T) {
	env := testEnv(t)
	ns := env.Namespace(t)
	unwatched := env.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	startTestController(t, env, ns)

	repo := &imagev1.ImageRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec:       imagev1.ImageRepositorySpec{Image: reg.Repo("team/app"), Interval: metav1.Duration{Duration: time.Hour}, Insecure: true},
	}
	bad := &imagev1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"},
		Spec: imagev1.ImagePolicySpec{
			ImageRepositoryRef: imagev1.NamespacedObjectReference{Name: "app"},
			Policy:             imagev1.ImagePolicyChoice{SemVer: &imagev1.SemVerPolicy{Range: "not a range"}},
		},
	}
	elsewhere := repo.DeepCopy()
	elsewhere.Namespace = unwatched
	if err := env.Client.Create(t.Context(), repo); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(t.Context(), elsewhere); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, env, ns)

	run := func(newCmd func() *cobra.Command, args ...string) (string, int) {
		t.Helper()
		var out bytes.Buffer
		cmd := newCmd()
		cmd.SetArgs(append(args, "--kubeconfig", kubeconfig))
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.ExecuteContext(t.Context())
		if e, ok := asExitError(err); ok && e.msg != "" {
			out.WriteString("Error: " + e.msg + "\n")
		}
		return out.String(), exitCode(err)
	}

	for _, tc := range []struct {
		name     string
		cmd      func() *cobra.Command
		args     []string
		wantCode int
		want     string
	}{
		{"reconcile", newReconcileCmd, []string{"image", "repository", "app"}, 0, "✔ ImageRepository " + ns + "/app reconciled: successful scan: found 1 tags"},
		{"alias", newReconcileCmd, []string{"image", "repo", "app", "-n", ns}, 0, "reconciled"},
		{"missing", newReconcileCmd, []string{"image", "policy", "nope"}, exitReconcileNotFound, "ImagePolicy " + ns + "/nope not found"},
		{"stalled", newReconcileCmd, []string{"image", "policy", "bad"}, exitReconcileFailed, "stalled, fix its spec: PolicyInvalid"},
		{"suspend", newSuspendCmd, []string{"image", "repository", "app"}, 0, "✔ ImageRepository " + ns + "/app suspended"},
		{"reconcile suspended", newReconcileCmd, []string{"image", "repository", "app"}, exitReconcileSuspended, "is suspended"},
		{"resume", newResumeCmd, []string{"image", "repository", "app"}, 0, "✔ ImageRepository " + ns + "/app resumed"},
		{"no controller", newReconcileCmd, []string{"image", "repository", "app", "-n", unwatched, "--timeout", "2s"}, exitReconcileTimeout, "did not handle the request within 2s"},
		{"bad kind", newReconcileCmd, []string{"image", "gadget", "app"}, exitReconcileUsage, `unknown kind "gadget"`},
		{"no kind", newSuspendCmd, []string{"image"}, exitReconcileUsage, "name what to suspend"},
		{"no name", newResumeCmd, []string{"image", "update"}, exitReconcileUsage, "takes one NAME, got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(tc.cmd, tc.args...)
			if code != tc.wantCode || !strings.Contains(out, tc.want) {
				t.Errorf("dockhand %s %s: exit %d, output\n%s\nwant exit %d and %q", tc.cmd().Name(), strings.Join(tc.args, " "), code, out, tc.wantCode, tc.want)
			}
		})
	}
}
