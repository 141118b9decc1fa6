package controller

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
)

// +kubebuilder:rbac:groups=image.dockhand.dev,resources=imagepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=image.dockhand.dev,resources=imagepolicies/status,verbs=get;update;patch

// policyReconciler selects the latest image of ImagePolicies.
type policyReconciler struct {
	base
}

func (r *policyReconciler) setup(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&imagev1.ImagePolicy{}, builder.WithPredicates(specOrRequestChanged())).
		Watches(&imagev1.ImageRepository{},
			handler.EnqueueRequestsFromMapFunc(r.policiesOf),
			builder.WithPredicates(scanChanged())).
		Named("imagepolicy").
		WithOptions(opts).
		Complete(r)
}

// Reconcile evaluates one ImagePolicy.
func (r *policyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pol := &imagev1.ImagePolicy{}
	if found, err := r.load(ctx, req, imagev1.ImagePolicyKind, pol); !found {
		return ctrl.Result{}, err
	}
	if pol.Spec.Suspend {
		log.FromContext(ctx).V(1).Info("Reconciliation is suspended")
	}

	before := pol.DeepCopy()
	out := r.engine.ReconcilePolicy(ctx, r.store, pol)
	return r.finish(ctx, before, pol, out)
}

// policiesOf maps an ImageRepository to the policies that refer to it, in
// any namespace (whether they may is the engine's decision).
func (r *policyReconciler) policiesOf(ctx context.Context, obj client.Object) []reconcile.Request {
	var list imagev1.ImagePolicyList
	if err := r.client.List(ctx, &list, client.MatchingFields{repositoryRefIndex: obj.GetNamespace() + "/" + obj.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the policies of an ImageRepository", "imageRepository", client.ObjectKeyFromObject(obj))
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		reqs[i].NamespacedName = client.ObjectKeyFromObject(&list.Items[i])
	}
	return reqs
}
