package updater

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Apply sets the values marked with setter comments in the YAML files under
// root to the references of policies, a map from "namespace/name" to the
// policy's latest reference, and reports what it changed.
//
// Only the bytes of the marked values change; every other byte of a file
// stays as it was. Files are written atomically and keep their mode. A file
// that cannot be parsed, read or written is reported in
// Result.Diagnostics as an error and does not stop the other files; the
// returned error is for what stops the whole run: bad arguments, a root
// that cannot be read, a path escaping the root, a cancelled context. A
// cancelled run may have written some files, each of them completely.
func Apply(ctx context.Context, root string, policies map[string]Ref, opts ...Option) (Result, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return Result{}, err
	}
	for key, ref := range policies {
		ns, name, ok := strings.Cut(key, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return Result{}, fmt.Errorf("policy key %q: want namespace/name", key)
		}
		if err := ref.validate(); err != nil {
			return Result{}, fmt.Errorf("latest reference of policy %s: %w", key, err)
		}
	}
	r, err := newRun(ctx, root, policies, o)
	if err != nil {
		return Result{}, err
	}
	return r.execute()
}

// job is a file to read: a walked file is its directory and name, its
// paths built only when needed; a warm run's job has its paths set.
type job struct {
	dir  *dirPath
	name string
	rel  string // slash-separated, relative to the root
	abs  string
	gone bool // the file no longer qualifies: the worker only records that
}

// relPath returns the file's path relative to the root, in slash form.
func (j *job) relPath() string {
	if j.dir == nil {
		return j.rel
	}
	return j.dir.child(j.name)
}

// absPath returns the file's absolute path.
func (j *job) absPath() string {
	if j.dir == nil {
		return j.abs
	}
	return j.dir.abs + string(filepath.Separator) + j.name
}

// appendCName appends the file's absolute path and a NUL byte to b.
func (j *job) appendCName(b []byte) []byte {
	if j.dir == nil {
		b = append(b, j.abs...)
	} else {
		b = append(b, j.dir.abs...)
		b = append(b, filepath.Separator)
		b = append(b, j.name...)
	}
	return append(b, 0)
}

// outcome is what happened to one file.
type outcome struct {
	rel     string
	gone    bool // the file no longer exists or no longer qualifies
	entry   IndexEntry
	edit    fileEdit
	before  []byte
	written bool
	marked  bool
	read    bool
	diags   []Diagnostic
}

type run struct {
	ctx      context.Context
	root     string // absolute, symlinks resolved
	sub      string // the covered directory, relative to root, slash form
	o        options
	policies map[string]Ref
	res      resolver
	hash     bool // compute blob hashes (an index is kept)

	mu    sync.Mutex
	diags []Diagnostic // diagnostics of the walk
}

func newRun(ctx context.Context, root string, policies map[string]Ref, o options) (*run, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving root %s: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("resolving root: %w", err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("reading root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("root %s is not a directory", root)
	}
	r := &run{ctx: ctx, root: real, o: o, policies: policies,
		res:  resolver{policies: policies, defaultNamespace: o.defaultNamespace},
		hash: o.index != nil && !o.dryRun}
	sub, err := r.resolveSub(o.subdir)
	if err != nil {
		return nil, err
	}
	r.sub = sub
	return r, nil
}

// resolveSub resolves the covered directory, following symlinks only while
// they stay inside the root.
func (r *run) resolveSub(sub string) (string, error) {
	if sub == "." {
		return ".", nil
	}
	real, err := filepath.EvalSymlinks(filepath.Join(r.root, filepath.FromSlash(sub)))
	if err != nil {
		return "", fmt.Errorf("update path %s: %w", sub, err)
	}
	rel, ok := r.relative(real)
	if !ok {
		return "", fmt.Errorf("update path %s leads to %s through a symlink: %w", sub, real, ErrEscapesRoot)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("update path %s: %w", sub, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("update path %s is not a directory", sub)
	}
	return rel, nil
}

// relative returns abs relative to the root in slash form, and false when
// abs is outside the root.
func (r *run) relative(abs string) (string, bool) {
	rel, err := filepath.Rel(r.root, abs)
	if err != nil {
		return "", false
	}
	rel = filepath.ToSlash(rel)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return rel, true
}

func (r *run) abs(rel string) string {
	return filepath.Join(r.root, filepath.FromSlash(rel))
}

// inSub reports whether rel is in the covered directory.
func (r *run) inSub(rel string) bool {
	return r.sub == "." || rel == r.sub || strings.HasPrefix(rel, r.sub+"/")
}

func (r *run) note(d Diagnostic) {
	r.mu.Lock()
	r.diags = append(r.diags, d)
	r.mu.Unlock()
}

// eligible reports whether a file name is one the updater looks at.
func eligible(name string) bool {
	return name == "Kustomization" || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

func (r *run) execute() (Result, error) {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	jobs := make(chan job, 256)
	var producerErr error
	warm := r.o.index != nil && r.o.changedSet && !r.needsFullScan()
	go func() {
		defer close(jobs)
		if warm {
			producerErr = r.warmJobs(ctx, jobs)
		} else {
			producerErr = r.walk(ctx, jobs)
		}
		if producerErr != nil {
			cancel()
		}
	}()

	results := make([][]outcome, r.o.workers)
	reads := make([]int, r.o.workers)
	var wg sync.WaitGroup
	for i := range r.o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], reads[i] = r.work(ctx, jobs)
		}()
	}
	wg.Wait()
	if producerErr != nil {
		return Result{}, producerErr
	}
	if err := r.ctx.Err(); err != nil {
		return Result{}, err
	}
	n := 0
	for _, rs := range results {
		n += len(rs)
	}
	all := make([]outcome, 0, n)
	for _, rs := range results {
		all = append(all, rs...)
	}
	slices.SortFunc(all, func(a, b outcome) int { return strings.Compare(a.rel, b.rel) })
	res := r.result(all)
	for _, n := range reads {
		res.Stats.Read += n
	}
	if r.o.index != nil && !r.o.dryRun {
		r.updateIndex(all, !warm)
	}
	return res, nil
}

// needsFullScan reports whether a warm run must read everything after all.
func (r *run) needsFullScan() bool {
	if r.o.index.namespace != r.o.defaultNamespace {
		return true
	}
	for _, p := range r.o.changed {
		if path.Base(p) == IgnoreFile {
			return true
		}
	}
	return false
}

// walk sends every eligible file under the covered directory.
func (r *run) walk(ctx context.Context, jobs chan<- job) error {
	// The rules of the covered directory come from the root down.
	ic := newIgnoreCache(r.root)
	rules, ignored, err := ic.dirRules(r.sub)
	if err != nil {
		return fmt.Errorf("reading %s files: %w", IgnoreFile, err)
	}
	if ignored {
		return nil
	}
	return r.walkDir(ctx, &dirPath{rel: r.sub, abs: r.abs(r.sub)}, splitPath(r.sub), rules, &dirScratch{}, jobs)
}

func (r *run) walkDir(ctx context.Context, dir *dirPath, comps []string, rules *ignoreRules, scratch *dirScratch, jobs chan<- job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := readDir(dir.abs, scratch)
	if err != nil {
		r.note(Diagnostic{File: dir.rel, Severity: SeverityError, Message: "cannot read directory: " + err.Error()})
		return nil
	}
	for _, e := range entries {
		if e.name == IgnoreFile && e.typ.IsRegular() {
			data, err := os.ReadFile(filepath.Join(dir.abs, IgnoreFile))
			if err != nil {
				r.note(Diagnostic{File: dir.child(IgnoreFile), Severity: SeverityError, Message: "cannot read: " + err.Error()})
				break
			}
			rules = rules.with(data, comps)
			break
		}
	}
	// Children's component slices share one backing array per directory.
	child := make([]string, len(comps)+1)
	copy(child, comps)
	for _, e := range entries {
		name := e.name
		if name == ".git" {
			continue
		}
		child[len(comps)] = name
		switch {
		case e.typ.IsDir():
			if rules.match(child, true) {
				continue
			}
			sub := &dirPath{rel: dir.child(name), abs: filepath.Join(dir.abs, name)}
			if err := r.walkDir(ctx, sub, slices.Clone(child), rules, scratch, jobs); err != nil {
				return err
			}
		case e.typ&fs.ModeSymlink != 0:
			if eligible(name) && !rules.match(child, false) {
				r.checkSymlink(dir.child(name))
			}
		case e.typ.IsRegular():
			if !eligible(name) || rules.match(child, false) {
				continue
			}
			select {
			case jobs <- job{dir: dir, name: name}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// checkSymlink notes a symlinked manifest that leads out of the root.
// Symlinks are never followed: a target inside the root is updated as a
// file of its own.
func (r *run) checkSymlink(rel string) {
	target, err := filepath.EvalSymlinks(r.abs(rel))
	if err != nil {
		return
	}
	if _, ok := r.relative(target); !ok {
		r.note(Diagnostic{File: rel, Severity: SeverityNote,
			Message: "symlink to " + target + ", outside the root, is not followed"})
	}
}

// warmJobs sends the changed paths and the files whose markers name a
// policy whose reference changed since the index was last updated.
func (r *run) warmJobs(ctx context.Context, jobs chan<- job) error {
	ix := r.o.index
	want := make(map[string]bool)
	for _, p := range r.o.changed {
		if r.inSub(p) {
			want[p] = true
		}
	}
	for p := range ix.marked {
		if e := ix.entries[p]; r.inSub(p) && (e.BlobHash == "" || r.policiesChanged(e.Policies)) {
			want[p] = true
		}
	}
	ic := newIgnoreCache(r.root)
	dirs := make(map[string]bool) // directory -> free of symlinks
	for _, p := range slices.Sorted(maps.Keys(want)) {
		ok, err := r.qualifies(p, ic, dirs)
		if err != nil {
			return err
		}
		j := job{rel: p, abs: r.abs(p), gone: !ok}
		select {
		case jobs <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// policiesChanged reports whether any of the policies has a reference
// other than the one the index last applied (or left or joined the set).
func (r *run) policiesChanged(policies []string) bool {
	for _, p := range policies {
		cur, in := r.policies[p]
		old, was := r.o.index.applied[p]
		if in != was || cur != old {
			return true
		}
	}
	return false
}

// qualifies reports whether the file at rel exists and is one a cold run
// would read: an eligible regular file, outside .git, not ignored, not
// reached through a symlink.
func (r *run) qualifies(rel string, ic *ignoreCache, dirs map[string]bool) (bool, error) {
	if !eligible(path.Base(rel)) {
		return false, nil
	}
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		ok, seen := dirs[dir]
		if !seen {
			fi, err := os.Lstat(r.abs(dir))
			ok = err == nil && fi.IsDir() && path.Base(dir) != ".git"
			dirs[dir] = ok
		}
		if !ok {
			return false, nil
		}
	}
	fi, err := os.Lstat(r.abs(rel))
	if err != nil {
		return false, nil
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		r.checkSymlink(rel)
		return false, nil
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	ignored, err := ic.ignored(rel)
	if err != nil {
		return false, fmt.Errorf("reading %s files: %w", IgnoreFile, err)
	}
	return !ignored, nil
}

// work reads and updates the files of jobs until there are no more.
func (r *run) work(ctx context.Context, jobs <-chan job) (out []outcome, reads int) {
	buf := make([]byte, 0, 64<<10)
	var cname []byte
	sc := &scratch{}
	for j := range jobs {
		if ctx.Err() != nil {
			continue // drain
		}
		if j.gone {
			out = append(out, outcome{rel: j.relPath(), gone: true})
			continue
		}
		var err error
		cname = j.appendCName(cname[:0])
		buf, err = readInto(cname, buf[:0])
		if err != nil {
			rel := j.relPath()
			if errors.Is(err, fs.ErrNotExist) {
				out = append(out, outcome{rel: rel, gone: true})
				continue
			}
			// Unknown content: marked, without a hash, so read again.
			out = append(out, outcome{rel: rel, read: true, entry: IndexEntry{HasMarkers: true},
				diags: []Diagnostic{{File: rel, Severity: SeverityError, Message: "cannot read: " + err.Error()}}})
			continue
		}
		reads++
		if oc, ok := r.process(&j, buf, sc); ok {
			out = append(out, oc)
		}
	}
	return out, reads
}

// process updates one file's content. It returns false for a file without
// marker text when no index is kept: there is nothing to report.
func (r *run) process(j *job, content []byte, sc *scratch) (outcome, bool) {
	marked := containsMarker(content)
	if !marked && !r.hash {
		return outcome{}, false
	}
	rel := j.relPath()
	oc := outcome{rel: rel, read: true, marked: marked}
	oc.entry.HasMarkers = marked
	if !marked {
		oc.entry.BlobHash = BlobHash(content)
		return oc, true
	}
	before := slices.Clone(content)
	oc.before = before
	oc.edit = rewriteWith(rel, before, &r.res, sc)
	oc.entry.Policies = oc.edit.policies
	final := before
	if oc.edit.out != nil && !r.o.dryRun {
		if err := writeAtomic(j.absPath(), oc.edit.out); err != nil {
			oc.edit.failed = true
			oc.diags = append(oc.diags, Diagnostic{File: rel, Severity: SeverityError, Message: "cannot write: " + err.Error()})
		} else {
			oc.written = true
			final = oc.edit.out
		}
	}
	if r.hash && !oc.edit.failed {
		oc.entry.BlobHash = BlobHash(final)
	}
	return oc, true
}

func containsMarker(b []byte) bool {
	return bytes.Contains(b, markerKeyBytes)
}

// result assembles the Result from the outcomes, sorted by path.
func (r *run) result(all []outcome) Result {
	res := Result{Diagnostics: r.diags}
	// Size everything once: a run that rewrites thousands of files would
	// otherwise grow each slice and map a dozen times.
	files, changes := 0, 0
	for i := range all {
		if oc := &all[i]; r.changed(oc) {
			files++
			changes += len(oc.edit.changes)
		}
	}
	if files > 0 {
		res.Updates = make([]FileUpdate, 0, files)
		res.FileChanges = make(map[string]ObjectChanges, files)
		res.ordered = make([]fileChange, 0, changes)
	}
	flat := make([]Change, 0, changes) // backs every object's list
	for i := range all {
		oc := &all[i]
		if oc.marked {
			res.Stats.WithMarkerText++
		}
		res.Diagnostics = append(res.Diagnostics, oc.edit.diags...)
		res.Diagnostics = append(res.Diagnostics, oc.diags...)
		if !r.changed(oc) {
			continue
		}
		res.Stats.Changed++
		if oc.written {
			res.Stats.Written++
		}
		res.Updates = append(res.Updates, FileUpdate{Path: oc.rel, Before: oc.before, After: oc.edit.out})
		objs := make(ObjectChanges, 1)
		cs := oc.edit.changes
		for len(cs) > 0 {
			// An object's changes are consecutive: one document, one object.
			n := 1
			for n < len(cs) && cs[n].obj == cs[0].obj {
				n++
			}
			start := len(flat)
			for _, c := range cs[:n] {
				flat = append(flat, c.change)
				res.ordered = append(res.ordered, fileChange{file: oc.rel, obj: c.obj, Change: c.change})
			}
			// The capacity stops an append by the caller at this object's end.
			own := flat[start:len(flat):len(flat)]
			if prev, ok := objs[cs[0].obj]; ok {
				own = append(prev, own...) // the same object in two documents
			}
			objs[cs[0].obj] = own
			cs = cs[n:]
		}
		res.FileChanges[oc.rel] = objs
	}
	slices.SortFunc(res.Diagnostics, compareDiagnostics)
	return res
}

// changed reports whether the outcome is a changed file to report: written,
// or to be written when the run is a dry run.
func (r *run) changed(oc *outcome) bool {
	return oc.edit.out != nil && (!oc.edit.failed || r.o.dryRun)
}

// updateIndex records the outcomes in the index. A cold run forgets the
// files of the covered directory it did not see.
func (r *run) updateIndex(all []outcome, cold bool) {
	ix := r.o.index
	ix.init()
	if cold {
		for p := range ix.entries {
			if r.inSub(p) {
				ix.Delete(p)
			}
		}
	}
	for _, oc := range all {
		switch {
		case oc.gone:
			ix.Delete(oc.rel)
		case oc.read:
			ix.Set(oc.rel, oc.entry)
		}
	}
	// Update the applied references in place: most runs change few.
	for p := range ix.applied {
		if _, ok := r.policies[p]; !ok {
			delete(ix.applied, p)
		}
	}
	for p, ref := range r.policies {
		if old, ok := ix.applied[p]; !ok || old != ref {
			ix.applied[p] = ref
		}
	}
	ix.namespace = r.o.defaultNamespace
}
