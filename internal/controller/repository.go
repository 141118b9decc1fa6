package controller

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
)

// Finalizer is put on every ImageRepository so that its stored tags are
// removed with it.
const Finalizer = "image.dockhand.dev/finalizer"

// +kubebuilder:rbac:groups=image.dockhand.dev,resources=imagerepositories,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=image.dockhand.dev,resources=imagerepositories/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=image.dockhand.dev,resources=imagerepositories/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets;serviceaccounts,verbs=get
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch;update

// repositoryReconciler scans ImageRepositories.
type repositoryReconciler struct {
	base
}

func (r *repositoryReconciler) setup(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&imagev1.ImageRepository{}, builder.WithPredicates(specOrRequestChanged())).
		Named("imagerepository").
		WithOptions(opts).
		Complete(r)
}

// Reconcile scans one ImageRepository.
func (r *repositoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	repo := &imagev1.ImageRepository{}
	if err := r.client.Get(ctx, req.NamespacedName, repo); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !repo.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, repo)
	}
	if err := addFinalizer(ctx, r.client, repo); err != nil {
		return ctrl.Result{}, err
	}
	if repo.Spec.Suspend {
		log.FromContext(ctx).V(1).Info("Reconciliation is suspended")
	}

	before := repo.DeepCopy()
	start := time.Now()
	out := r.engine.ReconcileRepository(ctx, r.store, repo)
	r.metrics.observeScan(before, repo, out, time.Since(start).Seconds())
	return r.finish(ctx, before, repo, out)
}

// finalize forgets the repository's tags and lets it go.
func (r *repositoryReconciler) finalize(ctx context.Context, repo *imagev1.ImageRepository) error {
	if !controllerutil.ContainsFinalizer(repo, Finalizer) {
		return nil
	}
	if err := r.engine.DeleteRepository(repo); err != nil {
		return fmt.Errorf("deleting the stored tags: %w", err)
	}
	r.metrics.forget(imagev1.ImageRepositoryKind, client.ObjectKeyFromObject(repo))
	before := repo.DeepCopy()
	controllerutil.RemoveFinalizer(repo, Finalizer)
	if err := r.client.Patch(ctx, repo, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("removing the finalizer: %w", err))
	}
	log.FromContext(ctx).V(1).Info("Stored tags deleted")
	return nil
}

// addFinalizer puts the finalizer on obj, if it is not there yet.
func addFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	if controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	before := obj.DeepCopyObject().(client.Object)
	controllerutil.AddFinalizer(obj, Finalizer)
	if err := c.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding the finalizer: %w", err)
	}
	return nil
}
