package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/engine"
)

// object is one of our kinds: conditions in the status.
type object interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// base is what every reconciler shares.
type base struct {
	client   client.Client
	store    engine.Store
	engine   *engine.Engine
	recorder events.EventRecorder
	metrics  *Metrics
}

// load reads the object of req into obj. It returns false, and forgets the
// object's metrics, when the object is gone: there is nothing to do.
func (b base) load(ctx context.Context, req ctrl.Request, kind string, obj client.Object) (bool, error) {
	if err := b.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			b.metrics.forget(kind, req.NamespacedName)
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// maxEventNote keeps an Event's note under the API server's 1 KiB limit.
const maxEventNote = 1000

// finish persists the status the engine wrote (one patch, none when nothing
// changed), announces a change of the Ready condition with an Event, and
// maps the engine's Outcome onto controller-runtime's result.
func (b *base) finish(ctx context.Context, before, obj object, out engine.Outcome) (ctrl.Result, error) {
	if err := b.patchStatus(ctx, before, obj); err != nil {
		return ctrl.Result{}, err
	}
	b.announce(before, obj)
	b.metrics.observeReady(obj)
	return result(ctx, out)
}

// patchStatus sends the difference between before and obj as a merge patch
// of the status subresource. The engine changes nothing but the status.
func (b *base) patchStatus(ctx context.Context, before, obj object) error {
	patch := client.MergeFrom(before)
	data, err := patch.Data(obj)
	if err != nil {
		return fmt.Errorf("computing the status patch: %w", err)
	}
	if string(data) == "{}" {
		return nil
	}
	if err := b.client.Status().Patch(ctx, obj, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile: nothing left to report on
		}
		return fmt.Errorf("patching status: %w", err)
	}
	return nil
}

// announce records an Event when the Ready condition changed status or
// reason, and only then: a failure retried with backoff warns once, not on
// every retry.
func (b *base) announce(before, obj object) {
	now := meta.FindStatusCondition(obj.GetConditions(), imagev1.ReadyCondition)
	if now == nil || b.recorder == nil {
		return
	}
	was := meta.FindStatusCondition(before.GetConditions(), imagev1.ReadyCondition)
	if was != nil && was.Status == now.Status && was.Reason == now.Reason {
		return
	}
	b.event(obj, now.Status == metav1.ConditionTrue, now.Reason, now.Message)
}

func (b *base) event(obj object, normal bool, reason, note string) {
	typ := corev1.EventTypeWarning
	if normal {
		typ = corev1.EventTypeNormal
	}
	if len(note) > maxEventNote {
		note = note[:maxEventNote] + "…"
	}
	b.recorder.Eventf(obj, nil, typ, reason, "Reconcile", "%s", note)
}

// result maps an engine Outcome: an invalid spec is a terminal error (no
// retries until the object changes), a failure is an error for
// controller-runtime's backoff, except that a registry's Retry-After is
// honoured as a requeue, and anything else requeues when the engine says.
func result(ctx context.Context, out engine.Outcome) (ctrl.Result, error) {
	switch {
	case out.Terminal:
		err := out.Err
		if err == nil {
			err = errors.New("invalid spec")
		}
		return ctrl.Result{}, reconcile.TerminalError(err)
	case out.Err != nil && out.RequeueAfter > 0:
		log.FromContext(ctx).Error(out.Err, "Reconcile failed; retrying when the server asked", "retryAfter", out.RequeueAfter)
		return ctrl.Result{RequeueAfter: out.RequeueAfter}, nil
	case out.Err != nil:
		return ctrl.Result{}, out.Err
	}
	return ctrl.Result{RequeueAfter: out.RequeueAfter}, nil
}

// ready returns the Ready condition's status and reason.
func ready(obj object) (metav1.ConditionStatus, string) {
	if c := meta.FindStatusCondition(obj.GetConditions(), imagev1.ReadyCondition); c != nil {
		return c.Status, c.Reason
	}
	return metav1.ConditionUnknown, ""
}
