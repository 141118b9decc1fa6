package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/dockhand-dev/dockhand/gitpush"
	"github.com/dockhand-dev/dockhand/internal/controller"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/internal/version"
	"github.com/dockhand-dev/dockhand/scanner"
)

// Exit codes of dockhand controller.
const (
	exitControllerFailed = 1 // the manager stopped with an error
	exitControllerUsage  = 2 // bad flags
)

type controllerOptions struct {
	cluster clusterFlags

	concurrent         int
	watchNamespaces    []string
	watchLabelSelector string

	metricsAddr string
	healthAddr  string

	leaderElection          bool
	leaderElectionNamespace string
	leaderElectionID        string

	noCrossNamespaceRefs  bool
	defaultServiceAccount string

	kubeAPIQPS   float32
	kubeAPIBurst int

	storagePath       string
	gitCachePath      string
	requeueDependency time.Duration
	gracefulShutdown  time.Duration

	logLevel    string
	logEncoding string
}

func newControllerCmd() *cobra.Command { return controllerCmd(runController) }

// controllerCmd builds the command around run, so tests can see the options
// the flags produce.
func controllerCmd(run func(context.Context, io.Writer, controllerOptions) error) *cobra.Command {
	var opts controllerOptions
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the Kubernetes controller for ImageRepositories, ImagePolicies and ImageUpdateAutomations",
		Long: `Run dockhand as a Kubernetes controller: scan the registries of
ImageRepositories, select the latest image of ImagePolicies, and run
ImageUpdateAutomations, recording everything in the objects' status.

It runs until interrupted (SIGINT or SIGTERM), then lets running reconciles
finish for up to --graceful-shutdown-timeout. With --enable-leader-election,
replicas elect one leader on a Lease and only the leader reconciles.

Multi-tenancy: --no-cross-namespace-refs refuses references to objects in
other namespaces (an ImagePolicy's repository, an automation's
GitRepository); --default-service-account names the ServiceAccount whose
imagePullSecrets an ImageRepository without spec.serviceAccountName uses.

Sharding: run one controller per shard with --watch-label-selector
(e.g. sharding.dockhand.dev/key=shard1) and label the objects, the policies
of each automation included.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), cmd.ErrOrStderr(), opts)
		},
	}
	fs := cmd.Flags()
	addClusterFlags(fs, &opts.cluster, false)
	fs.Float32Var(&opts.kubeAPIQPS, "kube-api-qps", 0, "cap on requests per second to the API server; 0 means no client-side cap (the server's API Priority and Fairness decides), as in controller-runtime")
	fs.IntVar(&opts.kubeAPIBurst, "kube-api-burst", 0, "burst above --kube-api-qps (default: twice the QPS)")
	fs.IntVar(&opts.concurrent, "concurrent", controller.DefaultConcurrent, "objects of each kind reconciled at once")
	fs.StringSliceVar(&opts.watchNamespaces, "watch-namespace", nil, "only watch these namespaces, comma-separated or repeated (default: all)")
	fs.StringVar(&opts.watchLabelSelector, "watch-label-selector", "", "only watch objects whose labels match this selector, for sharding (default: all)")
	fs.StringVar(&opts.metricsAddr, "metrics-addr", ":8080", `address of the Prometheus metrics endpoint; "" turns it off`)
	fs.StringVar(&opts.healthAddr, "health-addr", ":9440", `address of the /healthz and /readyz probes; "" turns them off`)
	fs.BoolVar(&opts.leaderElection, "enable-leader-election", false, "elect a leader among replicas; only the leader reconciles")
	fs.StringVar(&opts.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the Pod's namespace)")
	fs.StringVar(&opts.leaderElectionID, "leader-election-id", controller.DefaultLeaderElectionID, "name of the leader election Lease")
	fs.BoolVar(&opts.noCrossNamespaceRefs, "no-cross-namespace-refs", false, "refuse references to objects in other namespaces")
	fs.StringVar(&opts.defaultServiceAccount, "default-service-account", "", "ServiceAccount whose imagePullSecrets ImageRepositories without spec.serviceAccountName use (default: none)")
	fs.StringVar(&opts.storagePath, "storage-path", "/data/tags.db", "bbolt file holding the scanned tags of every ImageRepository")
	fs.StringVar(&opts.gitCachePath, "git-cache-path", "", "directory of the git clone cache (default: git/ beside --storage-path)")
	fs.DurationVar(&opts.requeueDependency, "requeue-dependency", 30*time.Second, "how long to wait before looking again at a missing dependency")
	fs.DurationVar(&opts.gracefulShutdown, "graceful-shutdown-timeout", controller.DefaultGracefulShutdown, "how long running reconciles may take to finish on shutdown")
	fs.StringVar(&opts.logLevel, "log-level", "info", "log level: info, debug or trace")
	fs.StringVar(&opts.logEncoding, "log-encoding", "json", "log format: json or console")
	return cmd
}

// controllerManagerOptions checks the flags that need no cluster and maps
// them onto controller.Options (Engine left to the caller).
func controllerManagerOptions(opts controllerOptions) (controller.Options, error) {
	mo := controller.Options{
		Concurrent:              opts.concurrent,
		WatchNamespaces:         opts.watchNamespaces,
		MetricsBindAddress:      opts.metricsAddr,
		HealthProbeBindAddress:  opts.healthAddr,
		LeaderElection:          opts.leaderElection,
		LeaderElectionNamespace: opts.leaderElectionNamespace,
		LeaderElectionID:        opts.leaderElectionID,
		GracefulShutdownTimeout: opts.gracefulShutdown,
	}
	if opts.concurrent < 1 {
		return mo, fmt.Errorf("--concurrent %d: want at least 1", opts.concurrent)
	}
	if opts.requeueDependency <= 0 {
		return mo, fmt.Errorf("--requeue-dependency %s: want a positive duration", opts.requeueDependency)
	}
	if opts.gracefulShutdown <= 0 {
		return mo, fmt.Errorf("--graceful-shutdown-timeout %s: want a positive duration", opts.gracefulShutdown)
	}
	if opts.kubeAPIQPS < 0 || opts.kubeAPIBurst < 0 {
		return mo, errors.New("--kube-api-qps and --kube-api-burst must not be negative")
	}
	if opts.storagePath == "" {
		return mo, errors.New("--storage-path is required")
	}
	if opts.watchLabelSelector != "" {
		sel, err := labels.Parse(opts.watchLabelSelector)
		if err != nil {
			return mo, fmt.Errorf("--watch-label-selector: %w", err)
		}
		mo.WatchLabelSelector = sel
	}
	return mo, nil
}

// apiRateLimits maps the flags onto rest.Config: client-go caps a zero QPS
// at 5 requests per second, far too few for a controller; -1 turns the
// client-side cap off.
func apiRateLimits(qps float32, burst int) (float32, int) {
	if qps == 0 {
		return -1, 0
	}
	if burst == 0 {
		burst = int(2 * qps)
	}
	return qps, max(burst, 1)
}

// controllerLogger builds the structured logger of --log-level and
// --log-encoding.
func controllerLogger(w io.Writer, level, encoding string) (logr.Logger, error) {
	var lvl zapcore.Level
	switch level {
	case "info":
		lvl = zapcore.InfoLevel
	case "debug":
		lvl = zapcore.DebugLevel // logr V(1)
	case "trace":
		lvl = zapcore.Level(-2) // logr V(2) and below
	default:
		return logr.Logger{}, fmt.Errorf("--log-level %q: want info, debug or trace", level)
	}
	opts := []zap.Opts{zap.WriteTo(w), zap.Level(lvl), zap.StacktraceLevel(zapcore.PanicLevel)}
	switch encoding {
	case "json":
		opts = append(opts, zap.JSONEncoder())
	case "console":
		opts = append(opts, zap.ConsoleEncoder())
	default:
		return logr.Logger{}, fmt.Errorf("--log-encoding %q: want json or console", encoding)
	}
	return zap.New(opts...), nil
}

func runController(ctx context.Context, errOut io.Writer, opts controllerOptions) error {
	mo, err := controllerManagerOptions(opts)
	if err != nil {
		return &exitError{code: exitControllerUsage, msg: err.Error()}
	}
	logger, err := controllerLogger(errOut, opts.logLevel, opts.logEncoding)
	if err != nil {
		return &exitError{code: exitControllerUsage, msg: err.Error()}
	}
	ctrl.SetLogger(logger)
	klog.SetLogger(logger) // client-go's own messages (leader election, events)
	mo.Logger = logger

	cfg, err := opts.cluster.restConfig()
	if err != nil {
		return &exitError{code: exitControllerFailed, msg: err.Error()}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "dockhand-controller/" + version.Get().Version
	cfg.QPS, cfg.Burst = apiRateLimits(opts.kubeAPIQPS, opts.kubeAPIBurst)

	if mo.Metrics, err = controller.NewMetrics(crmetrics.Registry); err != nil {
		return &exitError{code: exitControllerFailed, msg: fmt.Sprintf("registering metrics: %v", err)}
	}
	eng, closeEngine, err := controllerEngine(opts, scanner.WithRequestObserver(mo.Metrics.ObserveRegistryRequest))
	if err != nil {
		return &exitError{code: exitControllerFailed, msg: err.Error()}
	}
	defer closeEngine()
	mo.Engine = eng

	mgr, err := controller.NewManager(cfg, mo)
	if err != nil {
		return &exitError{code: exitControllerFailed, msg: err.Error()}
	}
	v := version.Get()
	logger.Info("Starting dockhand controller", "version", v.Version, "commit", v.Commit,
		"namespaces", opts.watchNamespaces, "labelSelector", opts.watchLabelSelector, "leaderElection", opts.leaderElection)
	if err := mgr.Start(ctx); err != nil {
		return &exitError{code: exitControllerFailed, msg: fmt.Sprintf("controller stopped: %v", err)}
	}
	logger.Info("Stopped")
	return nil
}

// controllerEngine opens the tag store and git cache and builds the
// engine; the returned function closes the tag store.
func controllerEngine(opts controllerOptions, scanOpts ...scanner.Option) (*engine.Engine, func(), error) {
	if err := os.MkdirAll(filepath.Dir(opts.storagePath), 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating the storage directory: %w", err)
	}
	tags, err := scanner.OpenTagStore(opts.storagePath)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the tag store: %w", err)
	}
	closeTags := func() { _ = tags.Close() }
	sc, err := scanner.New(append([]scanner.Option{scanner.WithUserAgent("dockhand/" + version.Get().Version)}, scanOpts...)...)
	if err != nil {
		closeTags()
		return nil, nil, err
	}
	gitDir := opts.gitCachePath
	if gitDir == "" {
		gitDir = filepath.Join(filepath.Dir(opts.storagePath), "git")
	}
	git, err := gitpush.New(gitDir)
	if err != nil {
		closeTags()
		return nil, nil, fmt.Errorf("opening the git cache: %w", err)
	}
	eng, err := engine.New(engine.Options{
		Scanner:               sc,
		Tags:                  tags,
		Git:                   git,
		DependencyRequeue:     opts.requeueDependency,
		NoCrossNamespaceRefs:  opts.noCrossNamespaceRefs,
		DefaultServiceAccount: opts.defaultServiceAccount,
	})
	if err != nil {
		closeTags()
		return nil, nil, err
	}
	return eng, closeTags, nil
}
