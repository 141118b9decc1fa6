package controller

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/envtest"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/internal/engine"
)

// readConfig decodes a YAML file of config/ into obj.
func readConfig(t *testing.T, obj any, parts ...string) {
	t.Helper()
	root, err := envtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(append([]string{root, "config"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, obj); err != nil {
		t.Fatalf("decoding %s: %v", filepath.Join(parts...), err)
	}
}

// TestRBACIsEnough runs the controller as a service account holding only
// the roles in config/rbac, through the whole pipeline: Secrets, a
// GitRepository, leader election, Events, finalizers and status.
func TestRBACIsEnough(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	user := "system:serviceaccount:" + ns + ":dockhand-controller"
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "dockhand-controller", Namespace: ns}}

	var clusterRole rbacv1.ClusterRole
	readConfig(t, &clusterRole, "rbac", "role.yaml")
	clusterRole.Name = "dockhand-controller-" + ns
	createClusterScoped(t, &clusterRole)
	createClusterScoped(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: clusterRole.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name},
		Subjects:   subject,
	})
	var leaderRole rbacv1.Role
	readConfig(t, &leaderRole, "rbac", "leader_election_role.yaml")
	leaderRole.Namespace = ns
	create(t, &leaderRole)
	create(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: leaderRole.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: leaderRole.Name},
		Subjects:   subject,
	})

	reg := registry.Start(t, registry.WithBasicAuth("ci", "s3cret"))
	p := newPipelineOn(t, ns, reg)
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
		StringData: map[string]string{"username": "ci", "password": "s3cret"},
	})
	p.repo.Spec.SecretRef = &imagev1.LocalObjectReference{Name: "creds"}
	p.auto = newAutomation(ns, "fleet", withSourceRef("fleet"))
	create(t, gitRepository(t, ns, "fleet", p.git.HTTP.URL("fleet")))

	cfg := rest.CopyConfig(testEnv.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	startControllerAs(t, cfg, []string{ns}, func(_ *engine.Options, o *Options) {
		o.LeaderElection, o.LeaderElectionNamespace = true, ns
	})
	p.createAll(t)
	p.waitForLatest(t, "1.0.0")
	p.reg.PushTags(t, "team/app", "1.1.0")
	setRequest(t, p.repo, "rbac")
	p.waitForFile(t, "1.1.0")
	waitEvents(t, p.repo, "Normal/"+imagev1.SucceededReason)

	if err := testEnv.Client.Delete(t.Context(), p.repo); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the finalizer is removed", func() error {
		if err := fetch(t, p.repo); err == nil {
			return fmt.Errorf("still there with finalizers %v", p.repo.Finalizers)
		}
		return nil
	})
}

// TestRBACUpToDate: config/rbac/role.yaml is what `make generate` writes
// from the markers in this package.
func TestRBACUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs controller-gen; skipped with -short")
	}
	root, err := envtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "make", "-s", "generate", "GENERATE_OUT="+out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make generate GENERATE_OUT=%s: %v\n%s", out, err, b)
	}
	want, err := os.ReadFile(filepath.Join(out, "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("config/rbac/role.yaml is stale: run make generate")
	}
}
