package updater

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Option configures Apply.
type Option func(*options)

type options struct {
	defaultNamespace string
	subdir           string
	dryRun           bool
	workers          int
	index            *Index
	changed          []string
	changedSet       bool
}

// WithDefaultNamespace sets the namespace of markers that name a policy
// without one (our extension to Flux's markers): normally the namespace of
// the automation. Default: "default".
func WithDefaultNamespace(ns string) Option {
	return func(o *options) { o.defaultNamespace = ns }
}

// WithPath restricts the run to a directory under the root, given relative
// to it (an automation's update.path). A path that escapes the root, by
// "..", by being absolute, or through a symlink, is an error. Paths in the
// result stay relative to the root. Default: the whole root.
func WithPath(dir string) Option {
	return func(o *options) { o.subdir = dir }
}

// WithDryRun computes the changes without writing any file; the new
// contents are in Result.Updates. A dry run leaves the index untouched.
// Default: files are written.
func WithDryRun() Option {
	return func(o *options) { o.dryRun = true }
}

// WithWorkers sets how many files are read and updated at once. Default:
// four per CPU (reads block in system calls more than they compute).
func WithWorkers(n int) Option {
	return func(o *options) { o.workers = n }
}

// WithIndex makes the run keep ix up to date: after a run that is not a
// dry run, ix records, for every file it read, the git blob hash of its
// content (after any update) and which policies its markers name, and the
// references it applied. Without WithChangedPaths the run reads every
// file (a cold run) and rebuilds ix for the directory it covers. Default:
// no index.
func WithIndex(ix *Index) Option {
	return func(o *options) { o.index = ix }
}

// WithChangedPaths makes a warm run: only the given paths (slash-separated,
// relative to the root, as git names them: files added, modified, renamed
// or deleted since the run that last updated the index) and the files the
// index knows to carry markers of a policy whose reference changed since
// that run are read. It needs WithIndex. A path that escapes the root is
// an error. If a .sourceignore file is among the paths, or the default
// namespace differs from the index's, the run falls back to reading every
// file. Default: a cold run.
func WithChangedPaths(paths []string) Option {
	return func(o *options) {
		o.changed = paths
		o.changedSet = true
	}
}

func makeOptions(opts []Option) (options, error) {
	o := options{defaultNamespace: "default", subdir: ".", workers: 4 * runtime.GOMAXPROCS(0)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.defaultNamespace == "" {
		return o, errors.New("the default namespace must not be empty")
	}
	if o.workers < 1 {
		return o, fmt.Errorf("workers must be at least 1, not %d", o.workers)
	}
	if o.changedSet && o.index == nil {
		return o, errors.New("WithChangedPaths needs WithIndex: the index says which files carry markers")
	}
	sub, err := cleanRelative(o.subdir)
	if err != nil {
		return o, fmt.Errorf("update path: %w", err)
	}
	o.subdir = sub
	o.changed = slices.Clone(o.changed)
	for i, p := range o.changed {
		c, err := cleanRelative(p)
		if err != nil {
			return o, fmt.Errorf("changed path: %w", err)
		}
		o.changed[i] = c
	}
	return o, nil
}

// ErrEscapesRoot is wrapped by the errors for paths that lead out of the
// root.
var ErrEscapesRoot = errors.New("path escapes the root")

// cleanRelative cleans a path given relative to the root into slash form,
// rejecting absolute paths and paths that climb out with "..".
func cleanRelative(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") || filepath.VolumeName(p) != "" {
		return "", fmt.Errorf("%q is absolute: %w", p, ErrEscapesRoot)
	}
	c := path.Clean(filepath.ToSlash(p))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%q: %w", p, ErrEscapesRoot)
	}
	return c, nil
}
