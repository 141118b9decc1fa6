package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/updater"
)

type demoOptions struct {
	keep     bool          // leave the manifests and state behind
	interval time.Duration // of the demo's objects
	wait     time.Duration // for dockhand's second commit
	terminal bool
}

func newDemoCmd() *cobra.Command {
	opts := demoOptions{interval: 2 * time.Second, wait: 40 * time.Second}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch dockhand update a Git repository, on local servers",
		Long: `Demo starts a container registry and a Git server on 127.0.0.1, seeds an
image with two tags and a repository of manifests with a setter marker, and
runs dockhand against them: once, which pushes the newest tag, then on an
interval while a new tag is published, which dockhand finds and pushes too.
It shows both commits and stops everything it started. Nothing outside a
temporary directory is touched, and no network beyond loopback is used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.terminal = isTerminal(cmd.ErrOrStderr())
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.keep, "keep", false, "keep the demo's manifests and state file (their directory is printed)")
	return cmd
}

// demo is the running demo: its servers and files.
type demo struct {
	out, errOut io.Writer
	opts        demoOptions
	reg         *registry.Registry
	git         *gitserver.Server
	dir         string
	image       string
}

const (
	demoRepo      = "fleet"
	demoFile      = "apps/podinfo/deployment.yaml"
	demoImageRepo = "demo/podinfo"
)

func runDemo(ctx context.Context, out, _ io.Writer, opts demoOptions) (err error) {
	start := time.Now()
	// The demo tells one story on one stream: the runner's progress goes
	// with the rest, and the runner in the background writes concurrently.
	out = &lockedWriter{w: out}
	errOut := out
	d := &demo{out: out, errOut: errOut, opts: opts}
	defer func() { err = errors.Join(err, d.close()) }()
	if err := d.setUp(ctx); err != nil {
		return err
	}

	d.section("1. dockhand run --once: scan, select 1.0.1, push a commit")
	before, err := d.git.Head(ctx, demoRepo, "main")
	if err != nil {
		return err
	}
	if err := runRun(ctx, out, errOut, d.runOptions(true)); err != nil {
		return fmt.Errorf("dockhand run --once: %w", err)
	}
	if err := d.showCommit(ctx, before); err != nil {
		return err
	}

	d.section(fmt.Sprintf("2. dockhand run (every %s) while 1.1.0 is published", opts.interval))
	before, err = d.git.Head(ctx, demoRepo, "main")
	if err != nil {
		return err
	}
	if err := d.followNewTag(ctx, before); err != nil {
		return err
	}
	if err := d.showCommit(ctx, before); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nDone in %s. Try it on your own manifests: dockhand run -f DIR --once --dry-run\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// setUp starts the servers and writes the seed image, repository and
// manifests.
func (d *demo) setUp(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "dockhand-demo-"); err != nil {
		return err
	}
	if d.reg, err = registry.New(ctx); err != nil {
		return fmt.Errorf("starting the registry: %w", err)
	}
	if d.git, err = gitserver.New(ctx); err != nil {
		return fmt.Errorf("starting the git server: %w", err)
	}
	d.image = d.reg.Repo(demoImageRepo)
	if _, err := d.reg.WriteImage(ctx, demoImageRepo, "1.0.0", "1.0.1"); err != nil {
		return err
	}
	files := fstest.MapFS{
		demoFile:    {Data: []byte(demoDeployment(d.image))},
		"README.md": {Data: []byte("# fleet\n\nManifests kept up to date by dockhand.\n")},
	}
	if _, err := d.git.Create(ctx, demoRepo, files); err != nil {
		return err
	}
	manifests := filepath.Join(d.dir, "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		return err
	}
	objs := demoObjects(d.image, d.git.HTTP.URL(demoRepo), d.opts.interval)
	if err := os.WriteFile(filepath.Join(manifests, "dockhand.yaml"), []byte(objs), 0o644); err != nil {
		return err
	}

	fmt.Fprintf(d.out, "registry   %s  (image %s, tags 1.0.0 1.0.1)\n", d.reg.URL(), d.image)
	fmt.Fprintf(d.out, "git        %s  (%s marks its image for policy demo:podinfo)\n", d.git.HTTP.URL(demoRepo), demoFile)
	fmt.Fprintf(d.out, "manifests  %s\n", filepath.Join(manifests, "dockhand.yaml"))
	return nil
}

func (d *demo) runOptions(once bool) runOptions {
	return runOptions{
		files:       []string{filepath.Join(d.dir, "manifests")},
		once:        once,
		statePath:   filepath.Join(d.dir, "state.db"),
		namespace:   "default",
		concurrency: 4,
		logFormat:   "auto",
		getenv:      func(string) string { return "" }, // the demo needs no credentials
		terminal:    d.opts.terminal,
		plain:       !d.opts.terminal,
		signals:     make(chan os.Signal), // the demo's own stop is not a signal
	}
}

// followNewTag runs dockhand on its interval, publishes 1.1.0 and waits
// for the commit that follows.
func (d *demo) followNewTag(ctx context.Context, before string) error {
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := make(chan error, 1)
	go func() { done <- runRun(runCtx, d.out, d.errOut, d.runOptions(false)) }()

	time.Sleep(d.opts.interval / 2)
	if _, err := d.reg.WriteImage(ctx, demoImageRepo, "1.1.0"); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "published  %s:1.1.0\n", d.image)

	deadline := time.NewTimer(d.opts.wait)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var waitErr error
	for waitErr == nil {
		head, err := d.git.Head(ctx, demoRepo, "main")
		if err != nil {
			waitErr = err
			break
		}
		if head != before {
			break
		}
		select {
		case <-ctx.Done():
			waitErr = ctx.Err()
		case <-deadline.C:
			waitErr = fmt.Errorf("dockhand made no commit within %s of the new tag", d.opts.wait)
		case err := <-done:
			waitErr = fmt.Errorf("dockhand run ended early: %v", err)
			done <- err
		case <-tick.C:
		}
	}
	stopRun()
	if err := <-done; err != nil && waitErr == nil {
		waitErr = fmt.Errorf("dockhand run: %w", err)
	}
	return waitErr
}

// showCommit prints the commits made since before, with their diff.
func (d *demo) showCommit(ctx context.Context, before string) error {
	commits, err := d.git.Log(ctx, demoRepo, before+"..main")
	if err != nil {
		return err
	}
	if len(commits) == 0 {
		return errors.New("dockhand made no commit")
	}
	for _, c := range commits {
		fmt.Fprintf(d.out, "\ncommit %s\nAuthor: %s <%s>\n\n%s\n\n", c.Hash, c.AuthorName, c.AuthorEmail, indent(c.Message, "    "))
		parent := before
		if len(c.Parents) > 0 {
			parent = c.Parents[0]
		}
		old, err := d.git.ReadFile(ctx, demoRepo, parent, demoFile)
		if err != nil {
			return err
		}
		cur, err := d.git.ReadFile(ctx, demoRepo, c.Hash, demoFile)
		if err != nil {
			return err
		}
		fmt.Fprint(d.out, unifiedDiff(updater.FileUpdate{Path: demoFile, Before: old, After: cur}))
	}
	return nil
}

func (d *demo) section(title string) {
	fmt.Fprintf(d.out, "\n== %s\n\n", title)
}

func (d *demo) close() error {
	var errs []error
	if d.git != nil {
		errs = append(errs, d.git.Close())
	}
	if d.reg != nil {
		errs = append(errs, d.reg.Close())
	}
	if d.dir != "" {
		if d.opts.keep {
			fmt.Fprintf(d.out, "kept       %s\n", d.dir)
		} else {
			errs = append(errs, os.RemoveAll(d.dir))
		}
	}
	return errors.Join(errs...)
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func demoDeployment(image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: demo
spec:
  replicas: 2
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
        - name: podinfo
          image: ` + image + `:1.0.0 # {"$imagepolicy": "demo:podinfo"}
          ports:
            - containerPort: 9898
`
}

func demoObjects(image, gitURL string, interval time.Duration) string {
	return strings.NewReplacer("IMAGE", image, "GITURL", gitURL, "INTERVAL", interval.String()).Replace(`# What dockhand works on: scan an image, pick its latest 1.x tag, and keep
# the marked field in the fleet repository pointing at it.
apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata:
  name: podinfo
  namespace: demo
spec:
  image: IMAGE
  interval: INTERVAL
  insecure: true # the demo registry speaks plain HTTP on loopback
---
apiVersion: image.dockhand.dev/v1
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: demo
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: 1.x
---
apiVersion: image.dockhand.dev/v1
kind: ImageUpdateAutomation
metadata:
  name: fleet
  namespace: demo
spec:
  interval: INTERVAL
  git:
    remote:
      url: GITURL
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: dockhand
        email: dockhand@example.com
      messageTemplate: |
        Update images

        {{ range .Changed.Changes }}{{ print .OldValue }} -> {{ println .NewValue }}{{ end }}
    push:
      branch: main
  update:
    path: ./apps
`)
}
