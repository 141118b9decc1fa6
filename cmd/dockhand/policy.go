package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/policy"
	"github.com/dockhand-dev/dockhand/scanner"
)

// fluxImageAPIVersion is Flux's image API, whose ImagePolicy ours extends
// field for field, so its files are read as ours.
const fluxImageAPIVersion = "image.toolkit.fluxcd.io/v1"

// Exit statuses of "policy eval", as grep's: 1 when no tag qualifies, 2
// when the input (flags, policy, tags) is unusable.
const (
	exitNoTag        = 1
	exitInvalidInput = 2
)

type policyEvalOptions struct {
	registryFlags        // for image
	file          string // the ImagePolicy manifest; "-" for standard input
	name          string // which ImagePolicy of the file, when it holds several
	tags          string // newline-separated tags; "-" (or "" without image) for standard input
	image         string // read the tags from this repository instead
	output        string // "", "json" or "yaml"
	verbose       bool   // print the diagnostics on errOut

	in     io.Reader // standard input
	errOut io.Writer
}

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Evaluate ImagePolicies",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newPolicyEvalCmd())
	return cmd
}

func newPolicyEvalCmd() *cobra.Command {
	var opts policyEvalOptions
	cmd := &cobra.Command{
		Use:   "eval -f POLICY.yaml [--tags FILE|- | --image REPOSITORY]",
		Short: "Select the latest tag from a list, as an ImagePolicy would",
		Long: `Read one ImagePolicy (image.dockhand.dev/v1, or Flux's
image.toolkit.fluxcd.io/v1) and a list of tags, one per line, and print the
tag the policy selects. With --image the tags are those of an image
repository, listed as "dockhand scan" lists them.

Blank lines and lines starting with # in the tag list are skipped. With
-o json or -o yaml the output also tells how many tags were considered and
why the others were ignored.

Exit status: 0 when a tag is selected, 1 when no tag qualifies, 2 when the
policy or the tags cannot be read or the policy is invalid; with --image,
the registry's failures exit as they do for "dockhand scan" (3 credentials
missing or refused, 4 not found, 5 try again later, 1 anything else).`,
		Example: `  # The latest tag of a repository
  dockhand policy eval -f app-policy.yaml --image registry.example/app

  # From a list, with the reasons tags were ignored
  crane ls registry.example/app | dockhand policy eval -f app-policy.yaml -o json
  dockhand policy eval -f app-policy.yaml --tags tags.txt -v`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.in = cmd.InOrStdin()
			opts.errOut = cmd.ErrOrStderr()
			return runPolicyEval(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.file, "file", "f", "", "ImagePolicy manifest to evaluate (- for standard input)")
	f.StringVar(&opts.name, "name", "", "name of the ImagePolicy to evaluate when the file holds several")
	f.StringVar(&opts.tags, "tags", "", "file of tags, one per line, - for standard input (default: standard input, unless --image)")
	f.StringVar(&opts.image, "image", "", "read the tags from this image repository instead (see dockhand scan for the registry flags)")
	f.StringVarP(&opts.output, "output", "o", "", "output format: json or yaml (default: the tag alone)")
	f.BoolVarP(&opts.verbose, "verbose", "v", false, "also print on standard error how the tags were treated")
	addRegistryFlags(f, &opts.registryFlags)
	return cmd
}

// policyEvalOutput is what -o json and -o yaml print.
type policyEvalOutput struct {
	Policy string `json:"policy"` // namespace/name, or name
	policy.Result
	Error string `json:"error,omitempty"`
}

func runPolicyEval(ctx context.Context, out io.Writer, opts policyEvalOptions) error {
	switch opts.output {
	case "", "json", "yaml":
	default:
		return invalidInput("unknown output format %q (want json or yaml)", opts.output)
	}
	if opts.file == "" {
		return invalidInput("no ImagePolicy given; use -f FILE")
	}
	if opts.image != "" && opts.tags != "" {
		return invalidInput("give the tags with --tags or --image, not both")
	}
	if opts.tags == "" && opts.image == "" {
		opts.tags = "-"
	}
	if opts.file == "-" && opts.tags == "-" {
		return invalidInput("the policy and the tags cannot both come from standard input; give --tags FILE")
	}

	manifest, err := readInput(opts.file, opts.in)
	if err != nil {
		return invalidInput("reading the policy: %v", err)
	}
	obj, err := decodeImagePolicy(manifest, opts.name)
	if err != nil {
		return invalidInput("%s: %v", opts.file, err)
	}
	id := obj.Name
	if obj.Namespace != "" {
		id = obj.Namespace + "/" + obj.Name
	}
	p, err := policy.New(engine.PolicyOptions(obj.Spec)...)
	if err != nil {
		return invalidInput("ImagePolicy %s: %v", id, err)
	}

	tags, err := policyEvalTags(ctx, opts)
	if err != nil {
		return err
	}
	res, selectErr := p.Select(tags)

	if opts.verbose {
		fmt.Fprintf(opts.errOut, "%s: %s\n", id, res.Diagnostics)
	}
	if err := printPolicyEval(out, opts.output, id, res, selectErr); err != nil {
		return err
	}
	if selectErr != nil {
		return &exitError{code: exitNoTag, msg: fmt.Sprintf("ImagePolicy %s: %v", id, selectErr)}
	}
	return nil
}

// policyEvalTags reads the tags from the --tags file or standard input, or
// lists them from the --image repository.
func policyEvalTags(ctx context.Context, opts policyEvalOptions) ([]string, error) {
	if opts.image == "" {
		b, err := readInput(opts.tags, opts.in)
		if err != nil {
			return nil, invalidInput("reading the tags: %v", err)
		}
		return parseTags(b), nil
	}
	target, err := opts.target(opts.image)
	if err != nil {
		return nil, invalidInput("%v", err)
	}
	// The docker config is the user's own: its credential helpers may run.
	s, err := scanner.New(scanner.WithCredentialHelpers(true))
	if err != nil {
		return nil, invalidInput("%v", err)
	}
	defer s.Close()
	list, err := s.ListTags(ctx, target)
	if err != nil {
		return nil, scanExitError(err)
	}
	return list.Tags, nil
}

func printPolicyEval(out io.Writer, format, id string, res policy.Result, selectErr error) error {
	result := policyEvalOutput{Policy: id, Result: res}
	if selectErr != nil {
		result.Error = selectErr.Error()
	}
	switch format {
	case "json":
		return writeJSON(out, result)
	case "yaml":
		b, err := yaml.Marshal(result)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	if selectErr != nil {
		return nil
	}
	_, err := fmt.Fprintln(out, res.Tag)
	return err
}

// decodeImagePolicy finds the ImagePolicy in a manifest of one or more YAML
// documents: the only one, or the one called name. Documents of other kinds
// are skipped; an ImagePolicy of an API version other than ours or Flux's
// v1 is an error.
func decodeImagePolicy(manifest []byte, name string) (*imagev1.ImagePolicy, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	var found []*imagev1.ImagePolicy
	var others []string
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("decoding YAML: %w", err)
		}
		if head.APIVersion == "" && head.Kind == "" {
			continue // empty document, or comments only
		}
		if head.Kind != imagev1.ImagePolicyKind {
			others = append(others, describeObject(head.Kind, head.APIVersion, head.Metadata.Name))
			continue
		}
		if head.APIVersion != imagev1.GroupVersion.String() && head.APIVersion != fluxImageAPIVersion {
			return nil, fmt.Errorf("ImagePolicy %q has apiVersion %q; want %s or %s",
				head.Metadata.Name, head.APIVersion, imagev1.GroupVersion, fluxImageAPIVersion)
		}
		if name != "" && head.Metadata.Name != name {
			others = append(others, describeObject(head.Kind, head.APIVersion, head.Metadata.Name))
			continue
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("decoding ImagePolicy %q: %w", head.Metadata.Name, err)
		}
		found = append(found, obj)
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		names := make([]string, len(found))
		for i, p := range found {
			names[i] = p.Name
		}
		return nil, fmt.Errorf("holds %d ImagePolicies (%s); choose one with --name", len(found), strings.Join(names, ", "))
	case name != "":
		return nil, fmt.Errorf("has no ImagePolicy named %q (found: %s)", name, orNothing(others))
	}
	return nil, fmt.Errorf("has no ImagePolicy (found: %s)", orNothing(others))
}

// decodeStrict decodes an ImagePolicy, refusing unknown and duplicate
// fields with their paths ("unknown field \"spec.filterTags.patern\""), so
// that a misspelt field is not silently ignored.
func decodeStrict(doc []byte) (*imagev1.ImagePolicy, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	obj := &imagev1.ImagePolicy{}
	strictErrs, err := sigsjson.UnmarshalStrict(js, obj)
	if err != nil {
		return nil, err
	}
	return obj, errors.Join(strictErrs...)
}

func describeObject(kind, apiVersion, name string) string {
	if kind == "" {
		kind = "an object without kind"
	}
	return fmt.Sprintf("%s %q (%s)", kind, name, apiVersion)
}

func orNothing(list []string) string {
	if len(list) == 0 {
		return "nothing"
	}
	return strings.Join(list, ", ")
}

// parseTags reads one tag per line, skipping blank lines and # comments,
// which no tag can start with.
func parseTags(b []byte) []string {
	var tags []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tags = append(tags, line)
	}
	return tags
}

func readInput(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}

func invalidInput(format string, args ...any) error {
	return &exitError{code: exitInvalidInput, msg: fmt.Sprintf(format, args...)}
}
