package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// TestRequestReconcileAndWait is what `dockhand reconcile` does: ask, then
// wait for the controller to acknowledge and report.
func TestRequestReconcileAndWait(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	startController(t, []string{ns})
	repo := newRepository(ns, "app", reg.Repo("team/app"))
	create(t, repo)
	waitReady(t, repo, metav1.ConditionTrue, imagev1.SucceededReason)

	reg.PushTags(t, "team/app", "1.0.1")
	key := types.NamespacedName{Namespace: ns, Name: "app"}
	c := testEnv.Client
	token, err := RequestReconcile(t.Context(), c, key, &imagev1.ImageRepository{}, time.Now())
	if err != nil {
		t.Fatalf("RequestReconcile: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	got := &imagev1.ImageRepository{}
	res, err := WaitForReconcile(ctx, c, key, got, token, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("WaitForReconcile: %v", err)
	}
	if res.Ready != metav1.ConditionTrue || res.Reason != imagev1.SucceededReason {
		t.Errorf("WaitForReconcile = %+v, want Ready", res)
	}
	if r := got.Status.LastScanResult; r == nil || r.TagCount != 2 {
		t.Errorf("lastScanResult = %+v after the reconcile, want the new tag", r)
	}

	// Suspend: a reconcile request is refused; resume asks for one.
	if _, err := SetSuspend(t.Context(), c, key, &imagev1.ImageRepository{}, true, time.Now()); err != nil {
		t.Fatalf("SetSuspend(true): %v", err)
	}
	if _, err := RequestReconcile(t.Context(), c, key, &imagev1.ImageRepository{}, time.Now()); !errors.Is(err, ErrSuspended) {
		t.Errorf("RequestReconcile of a suspended repository = %v, want ErrSuspended", err)
	}
	token, err = SetSuspend(t.Context(), c, key, &imagev1.ImageRepository{}, false, time.Now())
	if err != nil {
		t.Fatalf("SetSuspend(false): %v", err)
	}
	res, err = WaitForReconcile(ctx, c, key, got, token, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("WaitForReconcile after resume: %v", err)
	}
	if got.Spec.Suspend || res.Ready != metav1.ConditionTrue {
		t.Errorf("after resume: suspend=%v, result %+v", got.Spec.Suspend, res)
	}

	// A stalled object reports its failure.
	pol := newPolicy(ns, "bad", "app", withSemver("not a range"))
	create(t, pol)
	pkey := types.NamespacedName{Namespace: ns, Name: "bad"}
	token, err = RequestReconcile(t.Context(), c, pkey, &imagev1.ImagePolicy{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err = WaitForReconcile(ctx, c, pkey, &imagev1.ImagePolicy{}, token, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ready != metav1.ConditionFalse || !res.Stalled || res.Reason != imagev1.PolicyInvalidReason {
		t.Errorf("WaitForReconcile of a bad policy = %+v, want stalled with PolicyInvalid", res)
	}

	// Nothing to wait for: an object that does not exist.
	_, err = RequestReconcile(t.Context(), c, types.NamespacedName{Namespace: ns, Name: "missing"}, &imagev1.ImageRepository{}, time.Now())
	if !apierrors.IsNotFound(err) {
		t.Errorf("RequestReconcile of a missing object = %v, want NotFound", err)
	}
}
