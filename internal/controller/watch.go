package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
)

// Field indexes over the cache.
const (
	// repositoryRefIndex indexes ImagePolicies by the namespace/name of
	// their ImageRepository.
	repositoryRefIndex = ".spec.imageRepositoryRef"
	// sourceRefIndex indexes ImageUpdateAutomations by the namespace/name of
	// their GitRepository.
	sourceRefIndex = ".spec.sourceRef"
)

func addIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &imagev1.ImagePolicy{}, repositoryRefIndex, func(obj client.Object) []string {
		pol := obj.(*imagev1.ImagePolicy)
		ref := pol.Spec.ImageRepositoryRef
		ns := ref.Namespace
		if ns == "" {
			ns = pol.Namespace
		}
		return []string{ns + "/" + ref.Name}
	}); err != nil {
		return fmt.Errorf("indexing ImagePolicies by repository: %w", err)
	}
	if err := indexer.IndexField(ctx, &imagev1.ImageUpdateAutomation{}, sourceRefIndex, func(obj client.Object) []string {
		auto := obj.(*imagev1.ImageUpdateAutomation)
		ref := auto.Spec.SourceRef
		if ref == nil || (ref.Kind != "" && ref.Kind != GitRepositoryGVK.Kind) {
			return nil
		}
		ns := ref.Namespace
		if ns == "" {
			ns = auto.Namespace
		}
		return []string{ns + "/" + ref.Name}
	}); err != nil {
		return fmt.Errorf("indexing ImageUpdateAutomations by source: %w", err)
	}
	return nil
}

// specOrRequestChanged lets through what should reconcile an object of
// ours: creation, a spec change (a new generation), a new reconcile
// request annotation, and the start of its deletion. Status updates, ours
// included, do not pass.
func specOrRequestChanged() predicate.Predicate {
	return predicate.Or(
		predicate.GenerationChangedPredicate{},
		predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				if e.ObjectOld == nil || e.ObjectNew == nil {
					return false
				}
				if requestOf(e.ObjectOld) != requestOf(e.ObjectNew) {
					return true
				}
				return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
			},
			CreateFunc:  func(event.CreateEvent) bool { return false },
			DeleteFunc:  func(event.DeleteEvent) bool { return false },
			GenericFunc: func(event.GenericEvent) bool { return false },
		},
	)
}

// requestOf is the pair of reconcile request annotations.
func requestOf(obj client.Object) [2]string {
	ann := obj.GetAnnotations()
	return [2]string{ann[imagev1.ReconcileRequestAnnotation], ann[imagev1.FluxReconcileRequestAnnotation]}
}

// scanChanged lets through the ImageRepository events its policies care
// about: it appeared or went away, its tags changed (a new
// status.lastScanResult.revision), or its spec changed (spec.accessFrom
// decides which namespaces may use it).
func scanChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldRepo, ok1 := e.ObjectOld.(*imagev1.ImageRepository)
			newRepo, ok2 := e.ObjectNew.(*imagev1.ImageRepository)
			if !ok1 || !ok2 {
				return false
			}
			return revision(oldRepo) != revision(newRepo) || oldRepo.Generation != newRepo.Generation
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

func revision(repo *imagev1.ImageRepository) string {
	if repo.Status.LastScanResult == nil {
		return ""
	}
	return repo.Status.LastScanResult.Revision
}

// latestRefChanged lets through the ImagePolicy events its automations
// care about: it appeared or went away, its status.latestRef changed, or
// its labels changed (spec.policySelector may select it now, or no
// longer).
func latestRefChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldPol, ok1 := e.ObjectOld.(*imagev1.ImagePolicy)
			newPol, ok2 := e.ObjectNew.(*imagev1.ImagePolicy)
			if !ok1 || !ok2 {
				return false
			}
			return !equality.Semantic.DeepEqual(oldPol.Status.LatestRef, newPol.Status.LatestRef) ||
				!equality.Semantic.DeepEqual(oldPol.Labels, newPol.Labels)
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// isNoMatch reports an error about a kind the API server does not serve.
func isNoMatch(err error) bool {
	return meta.IsNoMatchError(err)
}
