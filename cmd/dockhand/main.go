// Command dockhand keeps the container images referenced in Git repositories
// up to date. See the README for the two ways to run it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

// exitCode maps an error returned by a command to the process exit status.
// Commands that want a specific status return an *exitError; anything else
// is a plain failure (1). The message has already been printed by cobra or
// by the command itself.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := asExitError(err); ok {
		if e.msg != "" {
			fmt.Fprintln(os.Stderr, "Error:", e.msg)
		}
		return e.code
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	return 1
}
