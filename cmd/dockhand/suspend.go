package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockhand-dev/dockhand/internal/controller"
)

func newSuspendCmd() *cobra.Command {
	var opts clusterCmdOptions
	cmd := imageVerbCmd("suspend", "Stop the controller from reconciling an object", &opts, false, runSuspend)
	cmd.Long = `Set spec.suspend on an object: the controller leaves it alone (no scans,
no policy evaluation, no commits) until it is resumed. Its status keeps the
last outcome.

Exit codes: 0 suspended, 1 failed, 4 no such object.`
	return cmd
}

func newResumeCmd() *cobra.Command {
	var opts clusterCmdOptions
	cmd := imageVerbCmd("resume", "Resume a suspended object and wait for it to be reconciled", &opts, true, runResume)
	cmd.Long = `Clear spec.suspend on an object, ask for a reconcile and wait for its
outcome, as dockhand reconcile does.

Exit codes: 0 Ready, 1 not Ready, 4 no such object, 5 no answer within
--timeout.`
	return cmd
}

func runSuspend(ctx context.Context, out io.Writer, opts clusterCmdOptions) error {
	c, key, obj, err := clusterTarget(opts)
	if err != nil {
		return err
	}
	if _, err := controller.SetSuspend(ctx, c, key, obj, true, time.Now()); err != nil {
		return clusterError(opts, key, err)
	}
	_, err = fmt.Fprintf(out, "✔ %s %s suspended\n", opts.kind, key)
	return err
}

func runResume(ctx context.Context, out io.Writer, opts clusterCmdOptions) error {
	c, key, obj, err := clusterTarget(opts)
	if err != nil {
		return err
	}
	token, err := controller.SetSuspend(ctx, c, key, obj, false, time.Now())
	if err != nil {
		return clusterError(opts, key, err)
	}
	return waitAndReport(ctx, out, c, opts, key, obj, token, "resumed")
}
