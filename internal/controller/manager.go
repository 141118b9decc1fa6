package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/engine"
)

// Defaults of Options.
const (
	// DefaultConcurrent is how many objects of each kind are reconciled at
	// once.
	DefaultConcurrent = 4
	// DefaultLeaderElectionID names the Lease replicas compete for.
	DefaultLeaderElectionID = "dockhand-leader.image.dockhand.dev"
	// DefaultGracefulShutdown bounds how long running reconciles may take to
	// finish when the manager stops.
	DefaultGracefulShutdown = 30 * time.Second
	// DefaultKindPollInterval is how often a controller started without
	// Flux's GitRepository kind looks for it.
	DefaultKindPollInterval = time.Minute
	// EventSource is the reporting controller named on our Events.
	EventSource = "dockhand-controller"
)

// Options wires a manager. The zero value of every field but Engine is
// usable; each field documents what zero means.
type Options struct {
	// Engine runs the reconcile steps. Required.
	Engine *engine.Engine

	// Concurrent is how many objects of each kind are reconciled at once.
	// Zero means DefaultConcurrent.
	Concurrent int

	// WatchNamespaces restricts the controllers to objects in these
	// namespaces. Empty means every namespace.
	WatchNamespaces []string

	// WatchLabelSelector restricts the controllers to objects of our kinds
	// whose labels it matches, so that several controllers can share a
	// cluster (sharding). An automation's policies must match it too. Nil
	// means every object.
	WatchLabelSelector labels.Selector

	// MetricsBindAddress is where Prometheus metrics are served, e.g.
	// ":8080". Empty means no metrics server.
	MetricsBindAddress string

	// HealthProbeBindAddress is where /healthz and /readyz are served, e.g.
	// ":9440". Empty means no probe server.
	HealthProbeBindAddress string

	// LeaderElection makes replicas elect one leader, which alone
	// reconciles. Default false.
	LeaderElection bool
	// LeaderElectionNamespace holds the Lease. Empty means the namespace
	// the controller runs in (in a cluster).
	LeaderElectionNamespace string
	// LeaderElectionID names the Lease. Empty means
	// DefaultLeaderElectionID.
	LeaderElectionID string

	// KindPollInterval is how often the controller asks the API server
	// whether Flux's GitRepository kind has been installed, while it is
	// not, so that it can watch GitRepositories without a restart. Zero
	// means DefaultKindPollInterval.
	KindPollInterval time.Duration

	// GracefulShutdownTimeout bounds the wait for running reconciles when
	// the manager stops. Zero means DefaultGracefulShutdown.
	GracefulShutdownTimeout time.Duration

	// Metrics records dockhand's metrics. Nil records none.
	Metrics *Metrics

	// Logger is the manager's logger. The zero Logger means
	// controller-runtime's global one (ctrl.SetLogger).
	Logger logr.Logger

	// SkipNameValidation allows more than one manager with our controllers
	// in one process (tests). Default false.
	SkipNameValidation bool
}

// Scheme returns a scheme with Kubernetes' built-in kinds and ours.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := imagev1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// NewManager makes a controller-runtime manager running the three
// reconcilers, with indexes, health and readiness checks. Start it with
// its Start method; it stops when the context is cancelled.
func NewManager(cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	if opts.Engine == nil {
		return nil, errors.New("controller needs an engine")
	}
	if opts.Concurrent == 0 {
		opts.Concurrent = DefaultConcurrent
	}
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = DefaultLeaderElectionID
	}
	if opts.GracefulShutdownTimeout == 0 {
		opts.GracefulShutdownTimeout = DefaultGracefulShutdown
	}
	if opts.KindPollInterval <= 0 {
		opts.KindPollInterval = DefaultKindPollInterval
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	metricsAddr, probeAddr := opts.MetricsBindAddress, opts.HealthProbeBindAddress
	if metricsAddr == "" {
		metricsAddr = "0" // controller-runtime's "off"
	}
	if probeAddr == "" {
		probeAddr = "0"
	}
	shutdown := opts.GracefulShutdownTimeout
	mopts := ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOptions(opts),
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}}},
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                opts.LeaderElection,
		LeaderElectionID:              opts.LeaderElectionID,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &shutdown,
		Controller:                    config.Controller{SkipNameValidation: &opts.SkipNameValidation},
	}
	if opts.Logger.GetSink() != nil {
		mopts.Logger = opts.Logger
	}
	mgr, err := ctrl.NewManager(cfg, mopts)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := setup(mgr, opts); err != nil {
		return nil, err
	}
	return mgr, nil
}

// cacheOptions restricts the informers to the watched namespaces and, for
// our kinds, to the sharding label selector.
func cacheOptions(opts Options) cache.Options {
	var c cache.Options
	if len(opts.WatchNamespaces) > 0 {
		c.DefaultNamespaces = make(map[string]cache.Config, len(opts.WatchNamespaces))
		for _, ns := range opts.WatchNamespaces {
			c.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if sel := opts.WatchLabelSelector; sel != nil && !sel.Empty() {
		c.ByObject = map[client.Object]cache.ByObject{
			&imagev1.ImageRepository{}:       {Label: sel},
			&imagev1.ImagePolicy{}:           {Label: sel},
			&imagev1.ImageUpdateAutomation{}: {Label: sel},
		}
	}
	return c
}

// setup adds the indexes, reconcilers and checks to mgr.
func setup(mgr ctrl.Manager, opts Options) error {
	ctx := context.Background()
	if err := addIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	b := base{
		client:   mgr.GetClient(),
		store:    Store{Cached: mgr.GetClient(), Live: mgr.GetAPIReader(), Namespaces: namespaceSet(opts.WatchNamespaces)},
		engine:   opts.Engine,
		recorder: mgr.GetEventRecorder(EventSource),
		metrics:  opts.Metrics,
	}
	copts := controller.Options{MaxConcurrentReconciles: opts.Concurrent}

	watchGit, err := servesKind(mgr, GitRepositoryGVK)
	if err != nil {
		return err
	}
	if !watchGit {
		mgr.GetLogger().Info("Flux's GitRepository kind is not installed; automations with spec.sourceRef wait for it, and it is watched as soon as it is installed",
			"lookEvery", opts.KindPollInterval.String())
	}
	if err := (&repositoryReconciler{base: b}).setup(mgr, copts); err != nil {
		return fmt.Errorf("setting up the ImageRepository controller: %w", err)
	}
	if err := (&policyReconciler{base: b}).setup(mgr, copts); err != nil {
		return fmt.Errorf("setting up the ImagePolicy controller: %w", err)
	}
	if err := (&automationReconciler{base: b, watchGitRepositories: watchGit}).setup(mgr, copts, opts.KindPollInterval); err != nil {
		return fmt.Errorf("setting up the ImageUpdateAutomation controller: %w", err)
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers", informersSynced(mgr)); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}
	return nil
}

// namespaceSet returns the watched namespaces as a set; nil for all.
func namespaceSet(namespaces []string) map[string]bool {
	if len(namespaces) == 0 {
		return nil
	}
	set := make(map[string]bool, len(namespaces))
	for _, ns := range namespaces {
		set[ns] = true
	}
	return set
}

// servesKind asks the API server whether it serves a kind.
func servesKind(mgr ctrl.Manager, gvk schema.GroupVersionKind) (bool, error) {
	if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
		if isNoMatch(err) {
			return false, nil
		}
		return false, fmt.Errorf("looking up %s: %w", gvk.GroupKind(), err)
	}
	return true, nil
}

// informersSynced is ready once the caches have synced: before that the
// controller has not looked at anything.
func informersSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informers have not synced yet")
		}
		return nil
	}
}
