package controller

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
)

// +kubebuilder:rbac:groups=image.dockhand.dev,resources=imageupdateautomations,verbs=get;list;watch
// +kubebuilder:rbac:groups=image.dockhand.dev,resources=imageupdateautomations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=source.toolkit.fluxcd.io,resources=gitrepositories,verbs=get;list;watch

// automationReconciler runs ImageUpdateAutomations.
type automationReconciler struct {
	base
	// watchGitRepositories: Flux's GitRepository CRD is installed, so
	// changes to GitRepositories trigger their automations. Without it,
	// setup looks for the kind every KindPollInterval and watches it once
	// it is installed.
	watchGitRepositories bool
}

func (r *automationReconciler) setup(mgr ctrl.Manager, opts controller.Options, kindPoll time.Duration) error {
	c, err := ctrl.NewControllerManagedBy(mgr).
		For(&imagev1.ImageUpdateAutomation{}, builder.WithPredicates(specOrRequestChanged())).
		Watches(&imagev1.ImagePolicy{},
			handler.EnqueueRequestsFromMapFunc(r.automationsSelecting),
			builder.WithPredicates(latestRefChanged())).
		Named("imageupdateautomation").WithOptions(opts).Build(r)
	if err != nil {
		return err
	}
	if r.watchGitRepositories {
		return r.watchSources(mgr, c)
	}
	// Flux may be installed after us: look for the kind now and then, and
	// watch it once it is there.
	// One small request per look (the group version's resource list, 404
	// while it is not served), not a discovery of every group.
	dc, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("making a discovery client: %w", err)
	}
	gv := GitRepositoryGVK.GroupVersion().String()
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		logger := mgr.GetLogger()
		tick := time.NewTicker(kindPoll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			if list, err := dc.ServerResourcesForGroupVersion(gv); err != nil || !servesResource(list, GitRepositoryGVK.Kind) {
				continue
			}
			ok, err := servesKind(mgr, GitRepositoryGVK)
			if err != nil {
				logger.V(1).Info("Looking for Flux's GitRepository kind", "error", err.Error())
				continue
			}
			if !ok {
				continue
			}
			if err := r.watchSources(mgr, c); err != nil {
				logger.Error(err, "Watching Flux's GitRepositories")
				continue
			}
			logger.Info("Flux's GitRepository kind is installed now; watching GitRepositories")
			return nil
		}
	}))
}

// servesResource reports whether a resource list has kind.
func servesResource(list *metav1.APIResourceList, kind string) bool {
	for _, r := range list.APIResources {
		if r.Kind == kind {
			return true
		}
	}
	return false
}

// watchSources makes a spec change of a GitRepository run the automations
// that name it in spec.sourceRef.
func (r *automationReconciler) watchSources(mgr ctrl.Manager, c controller.Controller) error {
	src := &metav1.PartialObjectMetadata{}
	src.SetGroupVersionKind(GitRepositoryGVK)
	return c.Watch(source.Kind[client.Object](mgr.GetCache(), src,
		handler.EnqueueRequestsFromMapFunc(r.automationsOfSource),
		predicate.GenerationChangedPredicate{}))
}

// Reconcile runs one ImageUpdateAutomation.
func (r *automationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	auto := &imagev1.ImageUpdateAutomation{}
	if found, err := r.load(ctx, req, imagev1.ImageUpdateAutomationKind, auto); !found {
		return ctrl.Result{}, err
	}
	if auto.Spec.Suspend {
		log.FromContext(ctx).V(1).Info("Reconciliation is suspended")
	}

	before := auto.DeepCopy()
	out := r.engine.ReconcileAutomation(ctx, r.store, auto)
	r.metrics.observeRun(before, auto)
	res, err := r.finish(ctx, before, auto, out)
	r.announcePush(before, auto)
	return res, err
}

// announcePush records an Event for each new commit pushed, as Flux does,
// so that notifications can tell people what changed in their repository;
// Ready stays True across pushes and says nothing of them.
func (r *automationReconciler) announcePush(before, auto *imagev1.ImageUpdateAutomation) {
	commit := auto.Status.LastPushCommit
	if r.recorder == nil || commit == "" || commit == before.Status.LastPushCommit {
		return
	}
	note := "pushed commit " + commit
	if h := auto.Status.History; len(h) > 0 && h[0].Commit == commit {
		note = h[0].Message
	}
	r.event(auto, true, string(imagev1.RunPushed), note)
}

// automationsSelecting maps an ImagePolicy to the automations of its
// namespace whose spec.policySelector selects it.
func (r *automationReconciler) automationsSelecting(ctx context.Context, obj client.Object) []reconcile.Request {
	var list imagev1.ImageUpdateAutomationList
	if err := r.client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "Listing the automations of a namespace", "namespace", obj.GetNamespace())
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		auto := &list.Items[i]
		sel := labels.Everything()
		if ps := auto.Spec.PolicySelector; ps != nil {
			var err error
			if sel, err = metav1.LabelSelectorAsSelector(ps); err != nil {
				continue // stalled on its own; a policy change cannot help
			}
		}
		if sel.Matches(labels.Set(obj.GetLabels())) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(auto)})
		}
	}
	return reqs
}

// automationsOfSource maps a GitRepository to the automations whose
// spec.sourceRef names it.
func (r *automationReconciler) automationsOfSource(ctx context.Context, obj client.Object) []reconcile.Request {
	var list imagev1.ImageUpdateAutomationList
	if err := r.client.List(ctx, &list, client.MatchingFields{sourceRefIndex: obj.GetNamespace() + "/" + obj.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the automations of a GitRepository", "gitRepository", client.ObjectKeyFromObject(obj))
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		reqs[i].NamespacedName = client.ObjectKeyFromObject(&list.Items[i])
	}
	return reqs
}
