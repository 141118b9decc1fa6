package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit status out of a command. An empty msg
// means the command already told the user what went wrong.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func asExitError(err error) (*exitError, bool) {
	var e *exitError
	ok := errors.As(err, &e)
	return e, ok
}

func newRootCmd(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "dockhand",
		Short: "Keep the container images referenced in Git repositories up to date",
		Long: `dockhand scans container registries for new tags, picks the latest one
for each ImagePolicy, rewrites the YAML fields marked with setter comments
in a Git repository, and pushes a commit or opens a pull request.

Run it on one machine with "dockhand run", or on Kubernetes with
"dockhand controller".`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(
		newRunCmd(),
		newDemoCmd(),
		newGetCmd(),
		newControllerCmd(),
		newReconcileCmd(),
		newSuspendCmd(),
		newResumeCmd(),
		newScanCmd(),
		newPolicyCmd(),
		newUpdateCmd(),
		newMigrateCmd(),
		newVersionCmd(),
	)
	return root
}
