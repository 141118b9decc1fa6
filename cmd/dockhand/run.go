package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockhand-dev/dockhand/gitpush"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/internal/manifest"
	"github.com/dockhand-dev/dockhand/internal/runner"
	"github.com/dockhand-dev/dockhand/scanner"
)

// Exit codes of dockhand run.
const (
	exitRunFailed      = 1   // an object is not Ready (or the run could not start)
	exitRunInvalid     = 2   // bad flags, invalid manifests, or a spec that cannot work (Stalled)
	exitRunInterrupted = 130 // a signal stopped a --once pass before every object ran
)

type runOptions struct {
	files        []string
	once         bool
	dryRun       bool
	statePath    string
	cacheDir     string
	namespace    string
	concurrency  int
	logFormat    string
	dockerConfig string
	// reloadInterval is how often a long-running run looks at the
	// manifests for changes; zero never.
	reloadInterval time.Duration

	// Set by the command from its environment; tests replace them.
	getenv   func(string) string
	home     string
	terminal bool // standard error is a terminal
	plain    bool // lines for people without a status line (the demo off a terminal)
	// signals delivers the second interrupt that aborts steps in flight;
	// nil means the process's SIGINT and SIGTERM.
	signals <-chan os.Signal
}

func newRunCmd() *cobra.Command {
	var opts runOptions
	cmd := &cobra.Command{
		Use:   "run -f PATH [-f PATH...]",
		Short: "Scan, select and update from manifest files, with no cluster",
		Long: `Run reads ImageRepository, ImagePolicy and ImageUpdateAutomation objects
(image.dockhand.dev/v1 or Flux's image.toolkit.fluxcd.io/v1), Flux
GitRepositories and Secrets from the files and directories given, checks them
as the API server would, and does what the controller does: scans the
registries, selects the latest image of each policy and pushes the updated
manifests. State (tags and each object's status) lives in a local file.

Without --once it keeps going, on each object's interval, until interrupted;
an interrupt lets the work in flight finish (interrupt again to abort it).
Meanwhile it looks at the manifests every --reload-interval and, when they
changed, loads them again: new and changed objects run at once, removed
ones are dropped (and forgotten by the state file), and invalid manifests
are reported and ignored until they change again.

Credentials come from Secrets in the files, else from the environment: the
docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json, with its
credential helpers) for registries, and GIT_TOKEN, GITHUB_TOKEN,
GITLAB_TOKEN, GIT_USERNAME/GIT_PASSWORD, GIT_BEARER_TOKEN or an SSH key
(GIT_SSH_KEY_FILE, else ~/.ssh/id_*; GIT_SSH_KNOWN_HOSTS_FILE, else
~/.ssh/known_hosts) for Git.

Exit status with --once: 0 when every object is ready, 1 when one is not,
2 for invalid flags, manifests or specs, 130 when interrupted.`,
		Example: `  dockhand run -f ./clusters/production --once
  dockhand run -f image-automation.yaml -f secrets/ --once --dry-run
  dockhand run -f ./clusters --state /var/lib/dockhand/state.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.getenv = os.Getenv
			opts.home, _ = os.UserHomeDir()
			opts.terminal = isTerminal(cmd.ErrOrStderr())
			return runRun(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.files, "filename", "f", nil, "manifest file or directory (walked recursively), repeatable")
	f.BoolVar(&opts.once, "once", false, "run every object once, whatever its interval, and exit")
	f.BoolVar(&opts.dryRun, "dry-run", false, "print the diff and commit message of each automation and push nothing (implies --once; the state file is not changed)")
	f.StringVar(&opts.statePath, "state", "", "state file (default: "+displayDefaultState()+")")
	f.StringVar(&opts.cacheDir, "cache-dir", "", "clone cache directory (default: the one the state file records, else STATE.cache next to it)")
	f.StringVarP(&opts.namespace, "namespace", "n", "default", "namespace of objects that do not name one")
	f.IntVar(&opts.concurrency, "concurrency", 8, "steps (scans, automations) running at once")
	f.StringVar(&opts.logFormat, "log-format", "auto", "auto (progress on a terminal, else json), text or json")
	f.StringVar(&opts.dockerConfig, "docker-config", "", "docker config with registry credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json, if present)")
	f.DurationVar(&opts.reloadInterval, "reload-interval", 5*time.Second, "without --once, how often to look at the manifests for changes and load them again (0: never)")
	return cmd
}

func runRun(ctx context.Context, out, errOut io.Writer, opts runOptions) error {
	if opts.dryRun {
		opts.once = true
	}
	if err := opts.validate(); err != nil {
		return &exitError{code: exitRunInvalid, msg: err.Error()}
	}
	manifests := &runner.Manifests{Paths: opts.files, Options: manifest.Options{DefaultNamespace: opts.namespace}}
	objs, err := loadManifests(ctx, errOut, manifests)
	if err != nil {
		return err
	}

	rep, err := newRunReporter(out, errOut, opts.logFormat, opts.terminal, opts.plain)
	if err != nil {
		return &exitError{code: exitRunInvalid, msg: err.Error()}
	}
	st, cacheDir, closeState, err := openRunState(ctx, opts)
	if err != nil {
		return err
	}
	defer closeState()

	eng, closeEngine, err := newRunEngine(opts, st, cacheDir)
	if err != nil {
		return err
	}
	defer closeEngine()

	r, err := runner.New(runner.Options{
		Objects:        objs,
		Manifests:      manifests,
		NoReload:       opts.once || opts.reloadInterval == 0, // read at start only
		ReloadInterval: opts.reloadInterval,
		Engine:         eng,
		State:          st,
		Concurrency:    opts.concurrency,
		DryRun:         opts.dryRun,
		OnEvent:        rep.event,
	})
	if err != nil {
		return &exitError{code: exitRunFailed, msg: err.Error()}
	}

	if !opts.dryRun {
		// dockhand get cannot open the file while this process holds it:
		// answer it on a socket instead.
		if stopServing, err := st.ServeRecords(); err != nil {
			rep.warn("dockhand get --state will not work while this runs", err)
		} else {
			defer stopServing()
		}
	}
	workCtx, stop, release := stopOnSignal(ctx, opts.signals, rep)
	defer release()
	refs := r.Refs()
	rep.start(refs, opts.once)
	var sum *runner.Summary
	if opts.once {
		sum = r.Once(workCtx, stop)
	} else {
		sum = r.Run(workCtx, stop)
	}
	rep.finish()
	if opts.dryRun {
		if err := writePlans(out, sum); err != nil {
			return err
		}
	}
	if !opts.once {
		if sum.Err != nil {
			return &exitError{code: exitRunFailed, msg: sum.Err.Error()}
		}
		return nil // stopped by a signal, on purpose
	}
	return runExitError(sum)
}

func (o runOptions) validate() error {
	if len(o.files) == 0 {
		return errors.New("give the manifests with -f PATH (files or directories)")
	}
	if o.concurrency < 1 {
		return fmt.Errorf("--concurrency %d: want at least 1", o.concurrency)
	}
	if o.reloadInterval < 0 {
		return fmt.Errorf("--reload-interval %s: want 0 (never) or more", o.reloadInterval)
	}
	switch o.logFormat {
	case "auto", "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want auto, text or json", o.logFormat)
	}
	return nil
}

// loadManifests loads and validates the files, printing every problem.
func loadManifests(ctx context.Context, errOut io.Writer, m *runner.Manifests) (*manifest.Objects, error) {
	objs, err := m.Load(ctx)
	var invalid *runner.ManifestError
	switch {
	case errors.As(err, &invalid):
		for _, p := range invalid.Problems {
			fmt.Fprintln(errOut, p.Error())
		}
		return nil, &exitError{code: exitRunInvalid, msg: fmt.Sprintf("%d problem(s) in the manifests; nothing was run", len(invalid.Problems))}
	case err != nil:
		return nil, &exitError{code: exitRunInvalid, msg: err.Error()}
	}
	return objs, nil
}

// openRunState opens the state file, or for a dry run a throwaway copy of
// it, and decides where the clone cache is.
func openRunState(ctx context.Context, opts runOptions) (*runner.State, string, func(), error) {
	path := opts.statePath
	if path == "" {
		path = defaultStatePath(opts.getenv, opts.home)
		if path == "" {
			return nil, "", nil, &exitError{code: exitRunInvalid, msg: "no home directory to keep the state in: give --state FILE"}
		}
	}
	cacheDir := opts.cacheDir
	if opts.dryRun {
		tmp, err := os.MkdirTemp("", "dockhand-dry-run-")
		if err != nil {
			return nil, "", nil, err
		}
		copyPath := filepath.Join(tmp, "state.db")
		if recorded, err := copyState(ctx, path, copyPath); err != nil {
			os.RemoveAll(tmp)
			return nil, "", nil, stateExitError(err)
		} else if cacheDir == "" {
			cacheDir = recorded
		}
		if cacheDir == "" {
			cacheDir = path + ".cache"
		}
		st, err := runner.OpenState(copyPath, runner.StateOptions{})
		if err != nil {
			os.RemoveAll(tmp)
			return nil, "", nil, stateExitError(err)
		}
		return st, cacheDir, func() { st.Close(); os.RemoveAll(tmp) }, nil
	}
	st, err := runner.OpenState(path, runner.StateOptions{})
	if err != nil {
		return nil, "", nil, stateExitError(err)
	}
	if cacheDir == "" {
		if cacheDir, err = st.CacheDir(); err != nil {
			st.Close()
			return nil, "", nil, stateExitError(err)
		}
	}
	if cacheDir == "" {
		cacheDir = path + ".cache"
	}
	if abs, err := filepath.Abs(cacheDir); err == nil {
		cacheDir = abs
	}
	if err := st.SetCacheDir(cacheDir); err != nil {
		st.Close()
		return nil, "", nil, stateExitError(err)
	}
	return st, cacheDir, func() { st.Close() }, nil
}

// copyState copies the state file at path to dst (nothing when there is
// none yet) and returns the clone cache it records. While another dockhand
// run holds the file, the copy comes from that process, over its socket.
func copyState(ctx context.Context, path, dst string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err := runner.SnapshotFromSocket(ctx, path, dst); err == nil {
		s, err := runner.OpenState(dst, runner.StateOptions{ReadOnly: true})
		if err != nil {
			return "", err
		}
		defer s.Close()
		dir, _ := s.CacheDir()
		return dir, nil
	}
	// No process answers: the file is free, or held by one that does not
	// serve it (then this waits for the lock, and reports it busy).
	src, err := runner.OpenState(path, runner.StateOptions{ReadOnly: true})
	if err != nil {
		return "", err
	}
	defer src.Close()
	dir, _ := src.CacheDir()
	return dir, src.CopyTo(dst)
}

func stateExitError(err error) error {
	if errors.Is(err, runner.ErrStateBusy) {
		return &exitError{code: exitRunFailed, msg: err.Error() + " (is another dockhand run using it? give another --state)"}
	}
	return &exitError{code: exitRunFailed, msg: err.Error()}
}

// newRunEngine wires the engine with the user's credentials.
func newRunEngine(opts runOptions, st *runner.State, cacheDir string) (*engine.Engine, func(), error) {
	var dockerConfig func() *scanner.DockerConfig
	path := opts.dockerConfig
	if path == "" {
		if dir := opts.getenv("DOCKER_CONFIG"); dir != "" {
			path = filepath.Join(dir, "config.json")
		} else if opts.home != "" {
			path = filepath.Join(opts.home, ".docker", "config.json")
		}
		if _, err := os.Stat(path); err != nil {
			path = ""
		}
	}
	if path != "" {
		f, err := runner.LoadDockerConfigFile(path)
		if err != nil {
			return nil, nil, &exitError{code: exitRunInvalid, msg: err.Error()}
		}
		dockerConfig = f.Current
	}
	gitAuth, err := runner.GitAuthFromEnv(opts.getenv, opts.home)
	if err != nil {
		return nil, nil, &exitError{code: exitRunInvalid, msg: err.Error()}
	}
	// The docker config is the user's own, and so are the Secrets in the
	// files: credential helpers may run.
	sc, err := scanner.New(scanner.WithCredentialHelpers(true))
	if err != nil {
		return nil, nil, err
	}
	git, err := gitpush.New(cacheDir)
	if err != nil {
		sc.Close()
		return nil, nil, &exitError{code: exitRunFailed, msg: err.Error()}
	}
	eng, err := engine.New(engine.Options{
		Scanner:      sc,
		Tags:         st.Tags(),
		Git:          git,
		DockerConfig: dockerConfig,
		GitAuth:      gitAuth,
	})
	if err != nil {
		sc.Close()
		return nil, nil, err
	}
	return eng, sc.Close, nil
}

// stopOnSignal turns the end of ctx (the first SIGINT or SIGTERM) into a
// graceful stop, and a second signal into cancelling the work in flight.
func stopOnSignal(ctx context.Context, signals <-chan os.Signal, rep *runReporter) (context.Context, <-chan struct{}, func()) {
	workCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		close(stop)
		sig := signals
		if sig == nil {
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(ch)
			sig = ch
		}
		rep.stopping()
		select {
		case <-sig:
			rep.aborting()
			cancel()
		case <-done:
		}
	}()
	return workCtx, stop, func() { close(done); cancel() }
}

func runExitError(sum *runner.Summary) error {
	if sum.Err != nil {
		return &exitError{code: exitRunFailed, msg: sum.Err.Error()}
	}
	if sum.Stopped {
		return &exitError{code: exitRunInterrupted, msg: "interrupted: some objects did not run"}
	}
	failed := sum.Failed()
	if len(failed) == 0 {
		return nil
	}
	code := exitRunFailed
	for _, res := range failed {
		if res.Outcome.Terminal {
			code = exitRunInvalid
		}
	}
	return &exitError{code: code, msg: fmt.Sprintf("%d of %d objects are not ready", len(failed), len(sum.Results))}
}

// writePlans prints what each automation would push.
func writePlans(out io.Writer, sum *runner.Summary) error {
	for _, res := range sum.Results {
		if res.Ref.Kind != runner.KindAutomation || res.Plan == nil {
			continue
		}
		p := res.Plan
		if len(p.Updates) == 0 {
			if _, err := fmt.Fprintf(out, "# %s: no change\n", res.Ref); err != nil {
				return err
			}
			continue
		}
		if _, err := fmt.Fprintf(out, "# %s: %d file(s) would change on %s\n", res.Ref, len(p.Updates), shortCommit(p.Head)); err != nil {
			return err
		}
		for _, u := range p.Updates {
			if _, err := io.WriteString(out, unifiedDiff(u)); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(out, "# commit message:\n%s\n", indent(p.Message, "#   ")); err != nil {
			return err
		}
	}
	return nil
}

// defaultStatePath is $XDG_STATE_HOME/dockhand/state.db, else
// ~/.local/state/dockhand/state.db; "" without a home directory.
func defaultStatePath(getenv func(string) string, home string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "dockhand", "state.db")
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "state", "dockhand", "state.db")
}

func displayDefaultState() string {
	return "$XDG_STATE_HOME/dockhand/state.db or ~/.local/state/dockhand/state.db"
}
