package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/dockhand-dev/dockhand/internal/manifest"
	"github.com/dockhand-dev/dockhand/updater"
)

// exitUpdateFailed is the status of "update" when a file could not be
// parsed (or read, or written): the files that could were updated.
const exitUpdateFailed = 1

type updateOptions struct {
	path      string   // the directory to update
	files     []string // files or directories holding ImagePolicy objects; "-" for standard input
	namespace string   // namespace of markers that name none, and of policies without one
	dryRun    bool
	output    string // "", "json" or "yaml"

	in     io.Reader // standard input
	errOut io.Writer // notes and errors
}

func newUpdateCmd() *cobra.Command {
	var opts updateOptions
	cmd := &cobra.Command{
		Use:   "update --path DIR -f POLICIES.yaml [--dry-run] [-o json|yaml]",
		Short: "Rewrite the image references marked with setter comments under a directory",
		Long: `Set the YAML fields marked with image policy setter comments, such as

  image: ghcr.io/org/app:1.2.3 # {"$imagepolicy": "apps:app"}

to the latest references of the given ImagePolicy objects. Only the marked
values change; every other byte of each file stays as it was.

POLICIES holds ImagePolicy objects of image.dockhand.dev/v1 or Flux's
image.toolkit.fluxcd.io/v1 with status.latestRef set, as
"kubectl get imagepolicies -A -o yaml" prints them (a List or a stream of
documents); other kinds are skipped. -f may be repeated, name a directory,
or be "-" for standard input.

Changed files are listed on standard output; with --dry-run a unified diff
is printed instead and nothing is written. Notes (markers of other
policies, malformed markers, ...) and errors go to standard error with file
and line. The exit status is 1 when a file could not be parsed (or read or
written), 2 when the arguments or the policies are unusable, 0 otherwise.`,
		Example: `  kubectl get imagepolicies -A -o yaml | dockhand update --path ./clusters/prod -f -
  dockhand update --path . -f policies.yaml --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.in = cmd.InOrStdin()
			opts.errOut = cmd.ErrOrStderr()
			return runUpdate(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.path, "path", "", "directory whose YAML files to update (required)")
	f.StringArrayVarP(&opts.files, "filename", "f", nil, `file or directory of ImagePolicy objects, "-" for standard input (required, repeatable)`)
	f.StringVarP(&opts.namespace, "namespace", "n", "default", "namespace of markers and policies that name none")
	f.BoolVar(&opts.dryRun, "dry-run", false, "print a unified diff of the changes and write nothing")
	f.StringVarP(&opts.output, "output", "o", "", "output format: json or yaml (default: text)")
	return cmd
}

func runUpdate(ctx context.Context, out io.Writer, opts updateOptions) error {
	if opts.errOut == nil {
		opts.errOut = io.Discard
	}
	switch {
	case opts.path == "":
		return invalidInput("--path is required")
	case len(opts.files) == 0:
		return invalidInput("-f is required: the ImagePolicy objects whose latest references to set")
	case opts.output != "" && opts.output != "json" && opts.output != "yaml":
		return invalidInput("unknown output format %q (want json or yaml)", opts.output)
	case opts.namespace == "":
		return invalidInput("--namespace must not be empty")
	}
	policies, err := loadLatestRefs(ctx, opts)
	if err != nil {
		return err
	}
	uopts := []updater.Option{updater.WithDefaultNamespace(opts.namespace)}
	if opts.dryRun {
		uopts = append(uopts, updater.WithDryRun())
	}
	res, err := updater.Apply(ctx, opts.path, policies, uopts...)
	if err != nil {
		return invalidInput("updating %s: %v", opts.path, err)
	}
	display := func(rel string) string { return filepath.Join(opts.path, filepath.FromSlash(rel)) }
	for _, d := range res.Diagnostics {
		d.File = display(d.File)
		fmt.Fprintln(opts.errOut, d)
	}
	if err := printUpdate(out, opts, res, display); err != nil {
		return err
	}
	if opts.output == "" && len(res.Updates) == 0 {
		fmt.Fprintln(opts.errOut, "no changes")
	}
	var failed []string
	for _, d := range res.Errors() {
		if name := display(d.File); !slices.Contains(failed, name) {
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return &exitError{code: exitUpdateFailed, msg: fmt.Sprintf("could not update %d file(s): %s", len(failed), strings.Join(failed, ", "))}
	}
	return nil
}

// loadLatestRefs reads the ImagePolicy objects and returns the latest
// reference of each by "namespace/name".
func loadLatestRefs(ctx context.Context, opts updateOptions) (map[string]updater.Ref, error) {
	paths := make([]string, 0, len(opts.files))
	stdinFile := ""
	for _, f := range opts.files {
		if f != "-" {
			paths = append(paths, f)
			continue
		}
		if stdinFile != "" {
			return nil, invalidInput(`-f - may be given once`)
		}
		// manifest.Load reads files: keep standard input in one.
		tmp, err := os.CreateTemp("", "dockhand-policies-*.yaml")
		if err != nil {
			return nil, fmt.Errorf("buffering standard input: %w", err)
		}
		stdinFile = tmp.Name()
		defer os.Remove(stdinFile)
		_, err = io.Copy(tmp, opts.in)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("buffering standard input: %w", err)
		}
		paths = append(paths, stdinFile)
	}
	objs, problems, err := manifest.Load(ctx, paths, manifest.Options{DefaultNamespace: opts.namespace})
	if err != nil {
		return nil, invalidInput("reading policies: %v", err)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			if p.File == stdinFile {
				p.File = "<stdin>"
			}
			fmt.Fprintf(opts.errOut, "%s: error: %s\n", p.Source, strings.TrimPrefix(p.Error(), p.Source.String()+": "))
		}
		return nil, invalidInput("%d problem(s) in the policies; nothing was updated", len(problems))
	}
	refs := make(map[string]updater.Ref, len(objs.Policies))
	for _, p := range objs.Policies {
		key := p.Namespace + "/" + p.Name
		if p.Status.LatestRef == nil || p.Status.LatestRef.Name == "" {
			fmt.Fprintf(opts.errOut, "ImagePolicy %s: note: no status.latestRef; its markers are left alone\n", key)
			continue
		}
		lr := p.Status.LatestRef
		refs[key] = updater.Ref{Name: lr.Name, Tag: lr.Tag, Digest: lr.Digest}
	}
	if len(objs.Policies) == 0 {
		return nil, invalidInput("no ImagePolicy objects in %s", strings.Join(opts.files, ", "))
	}
	return refs, nil
}

// updateReport is the -o json|yaml form of a run.
type updateReport struct {
	Path        string               `json:"path"`
	DryRun      bool                 `json:"dryRun"`
	Files       []updateReportFile   `json:"files"`
	Diagnostics []updater.Diagnostic `json:"diagnostics"`
	Stats       updater.Stats        `json:"stats"`
}

type updateReportFile struct {
	Path    string               `json:"path"`
	Changes []updateReportChange `json:"changes"`
	Diff    string               `json:"diff,omitempty"`
}

type updateReportChange struct {
	Object updater.ObjectIdentifier `json:"object"`
	updater.Change
}

func printUpdate(out io.Writer, opts updateOptions, res updater.Result, display func(string) string) error {
	if opts.output == "" {
		for _, u := range res.Updates {
			if opts.dryRun {
				if _, err := io.WriteString(out, unifiedDiff(u)); err != nil {
					return err
				}
				continue
			}
			if _, err := fmt.Fprintln(out, display(u.Path)); err != nil {
				return err
			}
		}
		return nil
	}
	report := updateReport{Path: opts.path, DryRun: opts.dryRun, Files: []updateReportFile{},
		Diagnostics: res.Diagnostics, Stats: res.Stats}
	if report.Diagnostics == nil {
		report.Diagnostics = []updater.Diagnostic{}
	}
	for _, u := range res.Updates {
		f := updateReportFile{Path: u.Path}
		objs := res.FileChanges[u.Path]
		ids := make([]updater.ObjectIdentifier, 0, len(objs))
		for id := range objs {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b updater.ObjectIdentifier) int { return strings.Compare(a.String(), b.String()) })
		for _, id := range ids {
			for _, c := range objs[id] {
				f.Changes = append(f.Changes, updateReportChange{Object: id, Change: c})
			}
		}
		if opts.dryRun {
			f.Diff = unifiedDiff(u)
		}
		report.Files = append(report.Files, f)
	}
	var data []byte
	var err error
	if opts.output == "json" {
		data, err = json.MarshalIndent(report, "", "  ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(report)
	}
	if err != nil {
		return err
	}
	_, err = out.Write(data)
	return err
}

// unifiedDiff returns the change to one file as a unified diff with paths
// a/FILE and b/FILE relative to the updated directory, as git prints them.
func unifiedDiff(u updater.FileUpdate) string {
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        diffLines(u.Before),
		B:        diffLines(u.After),
		FromFile: "a/" + u.Path,
		ToFile:   "b/" + u.Path,
		Context:  3,
	})
	if err != nil {
		return fmt.Sprintf("diff of %s: %v\n", u.Path, err)
	}
	return d
}

// diffLines splits content into lines that keep their line endings; a last
// line without one gets git's "\ No newline at end of file" mark.
func diffLines(content []byte) []string {
	lines := strings.SplitAfter(string(content), "\n")
	if last := len(lines) - 1; lines[last] == "" {
		lines = lines[:last]
	} else {
		lines[last] += "\n\\ No newline at end of file\n"
	}
	return lines
}
