package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dockhand-dev/dockhand/scanner"
)

// Exit codes of commands that talk to registries.
const (
	exitScanFailed      = 1 // anything not below
	exitScanInvalid     = 2 // bad flags or image reference
	exitScanDenied      = 3 // 401 or 403: credentials missing or refused
	exitScanNotFound    = 4 // 404: no such repository, tag or platform
	exitScanUnavailable = 5 // rate limited, registry down, timed out: try again later
)

// registryFlags are the flags that say how to reach a registry. Commands
// that scan (scan, policy eval) share them through addRegistryFlags.
type registryFlags struct {
	dockerConfig string
	provider     string
	insecure     bool
	caFile       string
	certFile     string
	keyFile      string
	timeout      time.Duration
	exclude      []string
	noExclude    bool
}

func addRegistryFlags(fs *pflag.FlagSet, f *registryFlags) {
	fs.StringVar(&f.dockerConfig, "docker-config", "", "docker config file with registry credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json, if present)")
	fs.StringVar(&f.provider, "provider", "", "get credentials from a cloud identity: aws, gcp or azure (default: none)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to the registry")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of CA certificates to trust besides the system's")
	fs.StringVar(&f.certFile, "cert-file", "", "PEM client certificate for mutual TLS (with --key-file)")
	fs.StringVar(&f.keyFile, "key-file", "", "PEM private key of --cert-file")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up on the whole scan after this long")
	fs.StringArrayVar(&f.exclude, "exclude", nil, `regular expression of tags to leave out, repeatable (default: '^.*\.sig$')`)
	fs.BoolVar(&f.noExclude, "no-exclude", false, "keep every tag, signatures included")
}

// target turns the flags into a scan target for image.
func (f registryFlags) target(image string) (scanner.Target, error) {
	t := scanner.Target{
		Image:    image,
		Provider: scanner.Provider(f.provider),
		Insecure: f.insecure,
		Timeout:  f.timeout,
	}
	switch f.provider {
	case "", "generic", "aws", "gcp", "azure":
	default:
		return t, fmt.Errorf("--provider %q: want aws, gcp or azure", f.provider)
	}
	path := f.dockerConfig
	if path == "" {
		if p := scanner.DefaultDockerConfigPath(); p != "" {
			if _, err := os.Stat(p); err == nil {
				path = p
			}
		}
	}
	if path != "" {
		cfg, err := scanner.LoadDockerConfigFile(path)
		if err != nil {
			return t, err
		}
		t.Auth.DockerConfigs = []*scanner.DockerConfig{cfg}
	}
	for _, file := range []struct {
		path string
		dst  *[]byte
	}{{f.caFile, &t.TLS.CA}, {f.certFile, &t.TLS.Cert}, {f.keyFile, &t.TLS.Key}} {
		if file.path == "" {
			continue
		}
		b, err := os.ReadFile(file.path)
		if err != nil {
			return t, fmt.Errorf("reading TLS file: %w", err)
		}
		*file.dst = b
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return t, errors.New("--cert-file and --key-file go together")
	}
	switch {
	case f.noExclude:
		t.ExclusionList = []string{}
	case len(f.exclude) > 0:
		t.ExclusionList = f.exclude
	}
	return t, nil
}

type scanOptions struct {
	registryFlags
	image    string
	digest   string
	platform string
	output   string
	// scannerOptions are extra options for the scanner (tests use them to
	// point providers at stand-ins).
	scannerOptions []scanner.Option
}

func newScanCmd() *cobra.Command {
	var opts scanOptions
	cmd := &cobra.Command{
		Use:   "scan IMAGE",
		Short: "List the tags of an image repository, or resolve one tag's digest",
		Long: `Scan an image repository the way an ImageRepository does: every page of
its tag list, with the same credentials, TLS, retries and exclusions.

With --digest TAG it prints the digest of that tag instead (the index digest
of a multi-arch image, or one platform's with --platform).

Exit status: 0 success, 2 invalid arguments, 3 credentials missing or
refused (401/403), 4 not found, 5 rate limited or registry unavailable (try
again later), 1 anything else.`,
		Example: `  dockhand scan ghcr.io/org/app
  dockhand scan registry.local:5000/team/app --insecure -o json
  dockhand scan 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app --provider aws
  dockhand scan ghcr.io/org/app --digest 1.2.3 --platform linux/arm64`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.image = args[0]
			return runScan(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	addRegistryFlags(cmd.Flags(), &opts.registryFlags)
	cmd.Flags().StringVar(&opts.digest, "digest", "", "print the digest of this tag instead of listing tags")
	cmd.Flags().StringVar(&opts.platform, "platform", "", "with --digest: the digest for one platform, os/arch[/variant]")
	cmd.Flags().StringVarP(&opts.output, "output", "o", "", "output format: json (default: text)")
	return cmd
}

type scanJSON struct {
	Repository string   `json:"repository"`
	TagCount   int      `json:"tagCount"`
	Excluded   int      `json:"excluded"`
	Pages      int      `json:"pages"`
	Credential string   `json:"credential"`
	Seconds    float64  `json:"seconds"`
	Tags       []string `json:"tags"`
}

type digestJSON struct {
	Image    string  `json:"image"`
	Tag      string  `json:"tag"`
	Platform string  `json:"platform,omitempty"`
	Digest   string  `json:"digest"`
	Seconds  float64 `json:"seconds"`
}

func runScan(ctx context.Context, out io.Writer, opts scanOptions) error {
	if opts.output != "" && opts.output != "json" {
		return &exitError{code: exitScanInvalid, msg: fmt.Sprintf("unknown output format %q (want json)", opts.output)}
	}
	if opts.platform != "" && opts.digest == "" {
		return &exitError{code: exitScanInvalid, msg: "--platform needs --digest"}
	}
	target, err := opts.target(opts.image)
	if err != nil {
		return &exitError{code: exitScanInvalid, msg: err.Error()}
	}
	// The docker config is the user's own: its credential helpers may run.
	s, err := scanner.New(append([]scanner.Option{scanner.WithCredentialHelpers(true)}, opts.scannerOptions...)...)
	if err != nil {
		return &exitError{code: exitScanInvalid, msg: err.Error()}
	}
	defer s.Close()

	start := time.Now()
	if opts.digest != "" {
		digest, err := s.Digest(ctx, target, opts.digest, opts.platform)
		if err != nil {
			return scanExitError(err)
		}
		if opts.output == "json" {
			return writeJSON(out, digestJSON{Image: opts.image, Tag: opts.digest, Platform: opts.platform,
				Digest: digest, Seconds: time.Since(start).Seconds()})
		}
		_, err = fmt.Fprintln(out, digest)
		return err
	}

	list, err := s.ListTags(ctx, target)
	if err != nil {
		return scanExitError(err)
	}
	if opts.output == "json" {
		return writeJSON(out, scanJSON{Repository: list.Repository, TagCount: len(list.Tags), Excluded: list.Excluded,
			Pages: list.Pages, Credential: list.Credential, Seconds: list.Duration.Seconds(), Tags: list.Tags})
	}
	tw := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "Repository:\t%s\n", list.Repository)
	fmt.Fprintf(tw, "Tags:\t%d (%d excluded)\n", len(list.Tags), list.Excluded)
	fmt.Fprintf(tw, "Pages:\t%d\n", list.Pages)
	fmt.Fprintf(tw, "Credential:\t%s\n", list.Credential)
	fmt.Fprintf(tw, "Time:\t%s\n", list.Duration.Round(time.Millisecond))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(list.Tags) > 0 {
		fmt.Fprintln(out)
	}
	for _, tag := range list.Tags {
		if _, err := fmt.Fprintln(out, tag); err != nil {
			return err
		}
	}
	return nil
}

// writeJSON prints v indented, without escaping <, > and & (ranges and
// patterns are full of them, and nobody embeds this output in HTML).
func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// scanExitError maps a scanner error to the exit codes documented on the
// scan command.
func scanExitError(err error) error {
	code := exitScanFailed
	switch {
	case errors.Is(err, scanner.ErrInvalid):
		code = exitScanInvalid
	case errors.Is(err, scanner.ErrUnauthorized), errors.Is(err, scanner.ErrForbidden), errors.Is(err, scanner.ErrProviderHost):
		code = exitScanDenied
	case errors.Is(err, scanner.ErrNotFound):
		code = exitScanNotFound
	case scanner.IsRetryable(err):
		code = exitScanUnavailable
	}
	return &exitError{code: code, msg: err.Error()}
}
