package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/controller"
)

// Exit codes of reconcile, suspend and resume.
const (
	exitReconcileFailed    = 1 // reconciled, and not Ready; or the cluster could not be reached
	exitReconcileUsage     = 2 // bad arguments
	exitReconcileSuspended = 3 // reconcile of a suspended object: resume it
	exitReconcileNotFound  = 4 // no such object
	exitReconcileTimeout   = 5 // the controller did not answer in --timeout
)

// imageKind is how the cluster commands name our kinds: `dockhand
// reconcile image repository NAME`, as with flux.
type imageKind struct {
	use     string
	aliases []string
	kind    string
}

func imageKinds() []imageKind {
	return []imageKind{
		{"repository", []string{"repositories", "repo"}, imagev1.ImageRepositoryKind},
		{"policy", []string{"policies"}, imagev1.ImagePolicyKind},
		{"update", []string{"updates", "automation"}, imagev1.ImageUpdateAutomationKind},
	}
}

// clusterCmdOptions are the flags the reconcile, suspend and resume
// commands share.
type clusterCmdOptions struct {
	cluster clusterFlags
	timeout time.Duration
	kind    string
	name    string
}

func addClusterCmdFlags(fs *pflag.FlagSet, opts *clusterCmdOptions, wait bool) {
	addClusterFlags(fs, &opts.cluster, true)
	if wait {
		fs.DurationVar(&opts.timeout, "timeout", 5*time.Minute, "how long to wait for the controller")
	}
}

// imageVerbCmd builds `VERB image KIND NAME` for every kind.
func imageVerbCmd(verb, short string, opts *clusterCmdOptions, wait bool, run func(context.Context, io.Writer, clusterCmdOptions) error) *cobra.Command {
	usage := func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return &exitError{code: exitReconcileUsage, msg: fmt.Sprintf("name what to %s: dockhand %s image repository|policy|update NAME", verb, verb)}
		}
		return &exitError{code: exitReconcileUsage, msg: fmt.Sprintf("unknown kind %q: want dockhand %s image repository|policy|update NAME", args[0], verb)}
	}
	cmd := &cobra.Command{
		Use:           verb,
		Short:         short,
		Args:          cobra.ArbitraryArgs,
		RunE:          usage,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addClusterCmdFlags(cmd.PersistentFlags(), opts, wait)
	image := &cobra.Command{
		Use:   "image",
		Short: short + ": an ImageRepository, ImagePolicy or ImageUpdateAutomation",
		Args:  cobra.ArbitraryArgs,
		RunE:  usage,
	}
	cmd.AddCommand(image)
	for _, k := range imageKinds() {
		image.AddCommand(&cobra.Command{
			Use:     k.use + " NAME",
			Aliases: k.aliases,
			Short:   fmt.Sprintf("%s: the %s named NAME", short, k.kind),
			Args: func(_ *cobra.Command, args []string) error {
				if len(args) != 1 {
					return &exitError{code: exitReconcileUsage, msg: fmt.Sprintf("dockhand %s image %s takes one NAME, got %d arguments", verb, k.use, len(args))}
				}
				return nil
			},
			RunE: func(cmd *cobra.Command, args []string) error {
				o := *opts
				o.kind, o.name = k.kind, args[0]
				return run(cmd.Context(), cmd.OutOrStdout(), o)
			},
		})
	}
	return cmd
}

func newReconcileCmd() *cobra.Command {
	var opts clusterCmdOptions
	cmd := imageVerbCmd("reconcile", "Ask the controller to reconcile an object now and wait for the outcome", &opts, true, runReconcile)
	cmd.Long = `Ask the controller to reconcile an object now, outside its interval, and
wait until it has: the command sets the image.dockhand.dev/requestedAt
annotation and waits for status.lastHandledReconcileAt to match, then
reports the Ready condition.

Exit codes: 0 Ready, 1 not Ready (the message says why), 3 the object is
suspended, 4 no such object, 5 no answer within --timeout.`
	return cmd
}

func runReconcile(ctx context.Context, out io.Writer, opts clusterCmdOptions) error {
	c, key, obj, err := clusterTarget(opts)
	if err != nil {
		return err
	}
	token, err := controller.RequestReconcile(ctx, c, key, obj, time.Now())
	if err != nil {
		return clusterError(opts, key, err)
	}
	return waitAndReport(ctx, out, c, opts, key, obj, token, "reconciled")
}

// clusterTarget connects to the cluster and names the object.
func clusterTarget(opts clusterCmdOptions) (client.Client, types.NamespacedName, client.Object, error) {
	var key types.NamespacedName
	cfg, err := opts.cluster.restConfig()
	if err != nil {
		return nil, key, nil, &exitError{code: exitReconcileFailed, msg: err.Error()}
	}
	ns, err := opts.cluster.namespaceOrDefault()
	if err != nil {
		return nil, key, nil, &exitError{code: exitReconcileFailed, msg: err.Error()}
	}
	// A person's command waits on one object: no client-side rate limit,
	// whose refusals near the --timeout deadline would read as failures.
	cfg.QPS, cfg.Burst = -1, 0
	scheme, err := controller.Scheme()
	if err != nil {
		return nil, key, nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, key, nil, &exitError{code: exitReconcileFailed, msg: fmt.Sprintf("connecting to the cluster: %v", err)}
	}
	obj, err := controller.NewObject(opts.kind)
	if err != nil {
		return nil, key, nil, &exitError{code: exitReconcileUsage, msg: err.Error()}
	}
	return c, types.NamespacedName{Namespace: ns, Name: opts.name}, obj, nil
}

// clusterError maps a failure to reach or change the object.
func clusterError(opts clusterCmdOptions, key types.NamespacedName, err error) error {
	what := opts.kind + " " + key.String()
	switch {
	case apierrors.IsNotFound(err):
		return &exitError{code: exitReconcileNotFound, msg: what + " not found"}
	case errors.Is(err, controller.ErrSuspended):
		return &exitError{code: exitReconcileSuspended, msg: what + " is suspended: resume it first (dockhand resume image ...)"}
	}
	return &exitError{code: exitReconcileFailed, msg: fmt.Sprintf("%s: %v", what, err)}
}

// waitAndReport waits for the controller to handle the request token and
// prints the outcome.
func waitAndReport(ctx context.Context, out io.Writer, c client.Client, opts clusterCmdOptions, key types.NamespacedName, obj client.Object, token, done string) error {
	what := opts.kind + " " + key.String()
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	stop := startSpinner(out, isTerminal(out), "waiting for "+what+" to be "+done)
	res, err := controller.WaitForReconcile(ctx, c, key, obj, token, 500*time.Millisecond)
	stop()
	switch {
	case apierrors.IsNotFound(err):
		return &exitError{code: exitReconcileNotFound, msg: what + " was deleted"}
	case errors.Is(err, context.DeadlineExceeded):
		return &exitError{code: exitReconcileTimeout, msg: fmt.Sprintf("%s: the controller did not handle the request within %s (is it running, and does it watch this namespace?)", what, opts.timeout)}
	case err != nil:
		return &exitError{code: exitReconcileFailed, msg: fmt.Sprintf("%s: %v", what, err)}
	}
	if res.Ready == metav1.ConditionTrue {
		_, err := fmt.Fprintf(out, "✔ %s %s: %s\n", what, done, res)
		return err
	}
	state := "not ready"
	if res.Stalled {
		state = "stalled, fix its spec"
	}
	fmt.Fprintf(out, "✗ %s %s, %s: %s: %s\n", what, done, state, res.Reason, res.Message)
	return &exitError{code: exitReconcileFailed}
}

// startSpinner shows msg with a spinner on a terminal, or once as a line
// elsewhere; the returned function stops it and clears the line.
func startSpinner(w io.Writer, terminal bool, msg string) func() {
	if !terminal {
		fmt.Fprintf(w, "◎ %s\n", msg)
		return func() {}
	}
	frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%c %s", frames[i%len(frames)], msg)
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
