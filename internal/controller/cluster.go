package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
)

// What people do to objects on a cluster, for the CLI's reconcile, suspend
// and resume commands. These talk to the API server only; the controller
// does the work and records it in the status.

// ErrSuspended is returned when a reconcile is requested of a suspended
// object: the controller would not act on it.
var ErrSuspended = errors.New("suspended")

// NewObject returns an empty object of one of our kinds.
func NewObject(kind string) (client.Object, error) {
	switch kind {
	case imagev1.ImageRepositoryKind:
		return &imagev1.ImageRepository{}, nil
	case imagev1.ImagePolicyKind:
		return &imagev1.ImagePolicy{}, nil
	case imagev1.ImageUpdateAutomationKind:
		return &imagev1.ImageUpdateAutomation{}, nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// Suspended reports an object's spec.suspend.
func Suspended(obj client.Object) bool {
	switch o := obj.(type) {
	case *imagev1.ImageRepository:
		return o.Spec.Suspend
	case *imagev1.ImagePolicy:
		return o.Spec.Suspend
	case *imagev1.ImageUpdateAutomation:
		return o.Spec.Suspend
	}
	return false
}

// lastHandled returns an object's status.lastHandledReconcileAt.
func lastHandled(obj client.Object) string {
	switch o := obj.(type) {
	case *imagev1.ImageRepository:
		return o.Status.LastHandledReconcileAt
	case *imagev1.ImagePolicy:
		return o.Status.LastHandledReconcileAt
	case *imagev1.ImageUpdateAutomation:
		return o.Status.LastHandledReconcileAt
	}
	return ""
}

// RequestReconcile reads the object at key into obj and asks the
// controller to reconcile it now, by setting the request annotation to a
// new value (now, formatted as RFC 3339 with nanoseconds), which it
// returns. A suspended object is refused with ErrSuspended.
func RequestReconcile(ctx context.Context, c client.Client, key types.NamespacedName, obj client.Object, now time.Time) (string, error) {
	if err := c.Get(ctx, key, obj); err != nil {
		return "", err
	}
	if Suspended(obj) {
		return "", ErrSuspended
	}
	token := now.UTC().Format(time.RFC3339Nano)
	return token, patchSpecAndAnnotation(ctx, c, obj, nil, token)
}

// SetSuspend sets spec.suspend of the object at key. Resuming also asks
// for a reconcile, returning the request's value (empty when suspending)
// to wait for.
func SetSuspend(ctx context.Context, c client.Client, key types.NamespacedName, obj client.Object, suspend bool, now time.Time) (string, error) {
	if err := c.Get(ctx, key, obj); err != nil {
		return "", err
	}
	token := ""
	if !suspend {
		token = now.UTC().Format(time.RFC3339Nano)
	}
	return token, patchSpecAndAnnotation(ctx, c, obj, &suspend, token)
}

// patchSpecAndAnnotation sends one merge patch setting spec.suspend (when
// not nil) and the request annotation (when not empty).
func patchSpecAndAnnotation(ctx context.Context, c client.Client, obj client.Object, suspend *bool, token string) error {
	patch := map[string]any{}
	if suspend != nil {
		patch["spec"] = map[string]any{"suspend": *suspend}
	}
	if token != "" {
		patch["metadata"] = map[string]any{"annotations": map[string]string{imagev1.ReconcileRequestAnnotation: token}}
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	return c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, raw))
}

// Result is what a reconcile came to, from the object's Ready condition.
type Result struct {
	// Ready is the condition's status; Reason and Message explain it.
	Ready   metav1.ConditionStatus
	Reason  string
	Message string
	// Stalled: the object cannot progress without a spec change.
	Stalled bool
}

func (r Result) String() string {
	if r.Message == "" {
		return r.Reason
	}
	return r.Message
}

// WaitForReconcile polls the object at key every interval until its
// status.lastHandledReconcileAt is token, and returns its Ready
// condition then. It gives up when ctx ends.
func WaitForReconcile(ctx context.Context, c client.Reader, key types.NamespacedName, obj client.Object, token string, interval time.Duration) (Result, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := c.Get(ctx, key, obj); err != nil {
			if ctx.Err() != nil {
				return Result{}, fmt.Errorf("waiting for the controller to handle the request %s: %w", token, context.Cause(ctx))
			}
			return Result{}, err
		}
		if lastHandled(obj) == token {
			return resultOf(obj), nil
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("waiting for the controller to handle the request %s: %w", token, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func resultOf(obj client.Object) Result {
	o, ok := obj.(object)
	if !ok {
		return Result{Ready: metav1.ConditionUnknown}
	}
	res := Result{Ready: metav1.ConditionUnknown}
	if c := meta.FindStatusCondition(o.GetConditions(), imagev1.ReadyCondition); c != nil {
		res.Ready, res.Reason, res.Message = c.Status, c.Reason, strings.TrimSpace(c.Message)
	}
	res.Stalled = meta.IsStatusConditionTrue(o.GetConditions(), imagev1.StalledCondition)
	return res
}
