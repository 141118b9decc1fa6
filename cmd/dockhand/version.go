package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/dockhand-dev/dockhand/internal/version"
)

type versionOptions struct {
	output string
}

func newVersionCmd() *cobra.Command {
	var opts versionOptions
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.output, "output", "o", "", "output format: json (default: text)")
	return cmd
}

func runVersion(_ context.Context, out io.Writer, opts versionOptions) error {
	info := version.Get()
	switch opts.output {
	case "":
		_, err := fmt.Fprintf(out, "dockhand %s\ncommit:   %s\ngo:       %s\nplatform: %s\n",
			info.Version, info.Commit, info.GoVersion, info.Platform)
		return err
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	default:
		return &exitError{code: 2, msg: fmt.Sprintf("unknown output format %q (want json)", opts.output)}
	}
}
