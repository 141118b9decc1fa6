package controller

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/internal/engine"
)

// waitReady waits for obj's Ready condition to have status and reason.
func waitReady(t *testing.T, obj object, status metav1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s Ready=%s/%s", obj.GetName(), status, reason), func() error {
		if err := fetch(t, obj); err != nil {
			return err
		}
		return readyIs(obj, status, reason)
	})
}

// eventsFor lists the Events regarding obj, as "Type/Reason".
func eventsFor(t *testing.T, obj client.Object) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := testEnv.Client.List(context.Background(), &list, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == obj.GetName() && e.Regarding.Kind == kindName(obj.(object)) {
			out = append(out, e.Type+"/"+e.Reason)
		}
	}
	return out
}

// waitEvents waits until the Events regarding obj are exactly want (in any
// order).
func waitEvents(t *testing.T, obj client.Object, want ...string) {
	t.Helper()
	eventually(t, "events of "+obj.GetName(), func() error {
		got := eventsFor(t, obj)
		if strings.Join(sorted(got), ",") != strings.Join(sorted(want), ",") {
			return fmt.Errorf("events = %v, want %v", got, want)
		}
		return nil
	})
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestMissingSecretWaitsThenRecovers(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t, registry.WithBasicAuth("ci", "s3cret"))
	reg.PushTags(t, "team/app", "1.0.0")
	startController(t, []string{ns})

	repo := newRepository(ns, "app", reg.Repo("team/app"), withSecretRef("creds"))
	create(t, repo)
	waitReady(t, repo, metav1.ConditionFalse, imagev1.DependencyNotReadyReason)
	if c := condition(repo, imagev1.ReconcilingCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling = %v, want True while waiting for the Secret", c)
	}
	if c := condition(repo, imagev1.StalledCondition); c != nil {
		t.Errorf("Stalled = %v, want none: a missing Secret can appear", c)
	}
	if msg := condition(repo, imagev1.ReadyCondition).Message; !strings.Contains(msg, "creds") {
		t.Errorf("Ready message %q does not name the Secret", msg)
	}

	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
		StringData: map[string]string{"username": "ci", "password": "s3cret"},
	})
	waitReady(t, repo, metav1.ConditionTrue, imagev1.SucceededReason)
	if c := condition(repo, imagev1.ReconcilingCondition); c != nil {
		t.Errorf("Reconciling = %v after success, want none", c)
	}
	waitEvents(t, repo, "Warning/"+imagev1.DependencyNotReadyReason, "Normal/"+imagev1.SucceededReason)
}

func TestBadRangeStallsThenRecovers(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0", "1.1.0", "2.0.0")
	startController(t, []string{ns})

	repo := newRepository(ns, "app", reg.Repo("team/app"))
	create(t, repo)
	waitReady(t, repo, metav1.ConditionTrue, imagev1.SucceededReason)
	pol := newPolicy(ns, "app", "app", withSemver("not a range"))
	create(t, pol)
	waitReady(t, pol, metav1.ConditionFalse, imagev1.PolicyInvalidReason)
	if c := condition(pol, imagev1.StalledCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Stalled = %v, want True for a range that does not parse", c)
	}
	if c := condition(pol, imagev1.ReconcilingCondition); c != nil {
		t.Errorf("Reconciling = %v, want none: nothing is retried", c)
	}

	update(t, pol, func(p *imagev1.ImagePolicy) { p.Spec.Policy.SemVer.Range = "1.x" })
	waitReady(t, pol, metav1.ConditionTrue, imagev1.SucceededReason)
	if got := pol.Status.LatestRef; got == nil || got.Tag != "1.1.0" {
		t.Errorf("latestRef = %v, want tag 1.1.0", got)
	}
	if c := condition(pol, imagev1.StalledCondition); c != nil {
		t.Errorf("Stalled = %v after the fix, want none", c)
	}
	waitEvents(t, pol, "Warning/"+imagev1.PolicyInvalidReason, "Normal/"+imagev1.SucceededReason)
}

func TestUnreachableRegistryThenFixed(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	startController(t, []string{ns})

	// Nothing listens on port 1 of the loopback address.
	repo := newRepository(ns, "app", "127.0.0.1:1/team/app")
	create(t, repo)
	waitReady(t, repo, metav1.ConditionFalse, imagev1.ReadOperationFailedReason)
	if c := condition(repo, imagev1.ReconcilingCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling = %v, want True: the registry may come back", c)
	}

	update(t, repo, func(r *imagev1.ImageRepository) { r.Spec.Image = reg.Repo("team/app") })
	waitReady(t, repo, metav1.ConditionTrue, imagev1.SucceededReason)
	if r := repo.Status.LastScanResult; r == nil || r.TagCount != 1 {
		t.Errorf("lastScanResult = %+v, want 1 tag", r)
	}
}

// TestFailingRegistryWarnsOnce: a registry answering 503 is retried with
// backoff, and its users hear about it once, not on every retry.
func TestFailingRegistryWarnsOnce(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	fault := reg.InjectFault(registry.Fault{Path: regexp.MustCompile(`/tags/list$`), Status: 503})
	startController(t, []string{ns})

	repo := newRepository(ns, "app", reg.Repo("team/app"))
	create(t, repo)
	waitReady(t, repo, metav1.ConditionFalse, imagev1.ReadOperationFailedReason)
	// The scanner tries each scan a few times; wait for more than one
	// scan's worth of attempts, so the reconciler has retried.
	if err := fault.WaitHits(t.Context(), 9); err != nil {
		t.Fatal(err)
	}
	fault.Remove()
	waitReady(t, repo, metav1.ConditionTrue, imagev1.SucceededReason)
	waitEvents(t, repo, "Warning/"+imagev1.ReadOperationFailedReason, "Normal/"+imagev1.SucceededReason)
}

func TestRequestAnnotations(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	startController(t, []string{ns})

	repo := newRepository(ns, "app", reg.Repo("team/app"))
	create(t, repo)
	pol := newPolicy(ns, "app", "app")
	create(t, pol)
	waitReady(t, pol, metav1.ConditionTrue, imagev1.SucceededReason)

	// Flux's annotation is honoured as well as ours.
	reg.PushTags(t, "team/app", "1.0.1")
	update(t, repo, func(r *imagev1.ImageRepository) {
		r.Annotations = map[string]string{imagev1.FluxReconcileRequestAnnotation: "flux-1"}
	})
	eventually(t, "repository handled Flux's request", func() error {
		if err := fetch(t, repo); err != nil {
			return err
		}
		if got := repo.Status.LastHandledReconcileAt; got != "flux-1" {
			return fmt.Errorf("lastHandledReconcileAt = %q", got)
		}
		return nil
	})
	if r := repo.Status.LastScanResult; r == nil || r.TagCount != 2 {
		t.Errorf("lastScanResult = %+v, want the new tag scanned", r)
	}
	// The new scan revision reaches the policy without a request.
	eventually(t, "policy follows the new scan", func() error {
		if err := fetch(t, pol); err != nil {
			return err
		}
		if ref := pol.Status.LatestRef; ref == nil || ref.Tag != "1.0.1" {
			return fmt.Errorf("latestRef = %v", ref)
		}
		return nil
	})

	setRequest(t, pol, "ours-1")
	eventually(t, "policy handled our request", func() error {
		if err := fetch(t, pol); err != nil {
			return err
		}
		if got := pol.Status.LastHandledReconcileAt; got != "ours-1" {
			return fmt.Errorf("lastHandledReconcileAt = %q", got)
		}
		return nil
	})
}

func TestSuspendAndResume(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	p := newPipeline(t, ns)
	startController(t, []string{ns})
	p.createAll(t)
	p.waitForLatest(t, "1.0.0")

	update(t, p.repo, func(r *imagev1.ImageRepository) { r.Spec.Suspend = true })
	update(t, p.auto, func(a *imagev1.ImageUpdateAutomation) { a.Spec.Suspend = true })
	p.reg.PushTags(t, "team/app", "1.1.0")
	setRequest(t, p.repo, "while-suspended")

	// A canary in the same namespace, created after the request: once it
	// is scanned, the controller has had its chance at the suspended
	// repository.
	canary := newRepository(ns, "canary", p.image)
	create(t, canary)
	waitReady(t, canary, metav1.ConditionTrue, imagev1.SucceededReason)
	if err := fetch(t, p.repo); err != nil {
		t.Fatal(err)
	}
	if got := p.repo.Status.LastHandledReconcileAt; got == "while-suspended" {
		t.Error("a suspended repository handled a reconcile request")
	}
	if r := p.repo.Status.LastScanResult; r == nil || r.TagCount != 1 {
		t.Errorf("suspended repository's lastScanResult = %+v, want the old scan (1 tag)", r)
	}

	update(t, p.repo, func(r *imagev1.ImageRepository) { r.Spec.Suspend = false })
	p.waitForLatest(t, "1.1.0")
	if got := p.git.FileAt(t, "fleet", "main", manifestPath); !strings.Contains(got, p.image+":1.0.0 ") {
		t.Errorf("a suspended automation pushed:\n%s", got)
	}
	update(t, p.auto, func(a *imagev1.ImageUpdateAutomation) { a.Spec.Suspend = false })
	p.waitForFile(t, "1.1.0")
}

func TestCrossNamespaceReference(t *testing.T) {
	testEnv.Require(t)
	repoNS, polNS := testEnv.Namespace(t), testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	startController(t, []string{repoNS, polNS})

	repo := newRepository(repoNS, "app", reg.Repo("team/app"))
	create(t, repo)
	pol := newPolicy(polNS, "app", "app", withRepositoryNamespace(repoNS))
	create(t, pol)
	waitReady(t, pol, metav1.ConditionFalse, imagev1.AccessDeniedReason)
	waitReady(t, repo, metav1.ConditionTrue, imagev1.SucceededReason)

	// Label the policy's namespace and let it in.
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: polNS}}
	update(t, nsObj, func(n *corev1.Namespace) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels["team"] = "consumers"
	})
	update(t, repo, withAccessFrom(map[string]string{"team": "consumers"}))
	waitReady(t, pol, metav1.ConditionTrue, imagev1.SucceededReason)
	if ref := pol.Status.LatestRef; ref == nil || ref.Tag != "1.0.0" {
		t.Errorf("latestRef = %v, want 1.0.0", ref)
	}
}

// TestRepositoryInUnwatchedNamespace: a policy that refers to a repository
// the controller cannot see waits for it as for a missing one (rather than
// failing on the cache's error about an unknown namespace).
func TestRepositoryInUnwatchedNamespace(t *testing.T) {
	testEnv.Require(t)
	repoNS, polNS := testEnv.Namespace(t), testEnv.Namespace(t)
	startController(t, []string{polNS})
	create(t, newRepository(repoNS, "app", "127.0.0.1:1/team/app", withAccessFrom(nil)))
	pol := newPolicy(polNS, "app", "app", withRepositoryNamespace(repoNS))
	create(t, pol)
	waitReady(t, pol, metav1.ConditionFalse, imagev1.DependencyNotReadyReason)
	if msg := condition(pol, imagev1.ReadyCondition).Message; !strings.Contains(msg, "not found") {
		t.Errorf("Ready message = %q, want the repository reported missing", msg)
	}
}

func TestNoCrossNamespaceRefs(t *testing.T) {
	testEnv.Require(t)
	repoNS, polNS := testEnv.Namespace(t), testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	startController(t, []string{repoNS, polNS}, func(e *engine.Options, _ *Options) { e.NoCrossNamespaceRefs = true })

	repo := newRepository(repoNS, "app", reg.Repo("team/app"), withAccessFrom(nil))
	create(t, repo)
	pol := newPolicy(polNS, "app", "app", withRepositoryNamespace(repoNS))
	create(t, pol)
	waitReady(t, pol, metav1.ConditionFalse, imagev1.AccessDeniedReason)
	if c := condition(pol, imagev1.StalledCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Stalled = %v, want True: the installation forbids the reference", c)
	}
}

func TestDeletingRepositoryForgetsTags(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	h := startController(t, []string{ns})

	repo := newRepository(ns, "app", reg.Repo("team/app"))
	create(t, repo)
	waitReady(t, repo, metav1.ConditionTrue, imagev1.SucceededReason)
	if _, ok, err := h.tags.Result(ns + "/app"); err != nil || !ok {
		t.Fatalf("tag store has no entry for the scanned repository (ok=%v, err=%v)", ok, err)
	}
	if err := testEnv.Client.Delete(t.Context(), repo); err != nil {
		t.Fatal(err)
	}
	eventually(t, "repository is gone", func() error {
		if err := fetch(t, repo); err == nil {
			return fmt.Errorf("still there, finalizers %v", repo.Finalizers)
		} else if client.IgnoreNotFound(err) != nil {
			return err
		}
		return nil
	})
	if _, ok, err := h.tags.Result(ns + "/app"); err != nil || ok {
		t.Errorf("tag store still has the deleted repository (ok=%v, err=%v)", ok, err)
	}
}
