package gitpush

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// racyWindow: a file whose mtime is this close to the time we recorded its
// stat may be rewritten within the same timestamp tick, so it is hashed on
// the next scan rather than trusted by size and mtime (Git's "racy git").
const racyWindow = 100 * time.Millisecond

// checkoutTree makes the work tree reflect commit: from scratch when it
// reflects nothing yet, otherwise by applying the tree diff (no blob reads
// beyond the changed files). It returns the changed paths inside the sparse
// set.
func (e *entry) checkoutTree(ctx context.Context, commit plumbing.Hash) ([]string, error) {
	to, err := e.tree(commit)
	if err != nil {
		return nil, err
	}
	if e.st.Worktree.IsZero() {
		if err := e.materialise(to); err != nil {
			return nil, err
		}
		e.st.Worktree = commit
		return nil, nil
	}
	if e.st.Worktree == commit {
		return []string{}, nil
	}
	from, err := e.tree(e.st.Worktree)
	if err != nil {
		return nil, err
	}
	changes, err := e.diffChanges(ctx, from, to)
	if err != nil {
		return nil, err
	}
	// deletions first, so a directory replaced by a file (or the other way
	// round) is out of the way before the new entry is written
	changed := make([]string, len(changes))
	for i, c := range changes {
		changed[i] = c.path
		if c.to == nil {
			if err := e.removeFile(c.path); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range changes {
		if c.to != nil {
			if err := e.writeFile(c.path, c.to.Hash, c.to.Mode); err != nil {
				return nil, err
			}
		}
	}
	e.st.Worktree = commit
	return changed, nil
}

func (e *entry) tree(commit plumbing.Hash) (*object.Tree, error) {
	c, err := object.GetCommit(e.repo.Storer, commit)
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", commit, err)
	}
	return c.Tree()
}

// diffPaths lists the file paths that differ between two trees, limited to
// the sparse set. It compares tree entries by hash and descends only into
// directories that differ and overlap the sparse set, so it reads a handful
// of tree objects for a small change in a large repository, and no blobs.
func (e *entry) diffPaths(ctx context.Context, from, to *object.Tree) ([]string, error) {
	changes, err := e.diffChanges(ctx, from, to)
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.path
	}
	return out, err
}

// treeChange is a file path that differs, with its new entry (nil when the
// file is gone).
type treeChange struct {
	path string
	to   *object.TreeEntry
}

func (e *entry) diffChanges(ctx context.Context, from, to *object.Tree) ([]treeChange, error) {
	var out []treeChange
	err := e.diffTree(ctx, from.Hash, to.Hash, "", &out)
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, err
}

func (e *entry) diffTree(ctx context.Context, a, b plumbing.Hash, prefix string, out *[]treeChange) error {
	if a == b {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ea, err := e.treeEntries(a)
	if err != nil {
		return err
	}
	eb, err := e.treeEntries(b)
	if err != nil {
		return err
	}
	names := make(map[string]bool, len(ea)+len(eb))
	for n := range ea {
		names[n] = true
	}
	for n := range eb {
		names[n] = true
	}
	for n := range names {
		x, inA := ea[n]
		y, inB := eb[n]
		if inA && inB && x.Hash == y.Hash && x.Mode == y.Mode {
			continue
		}
		p := prefix + n
		if !overlapsSparse(p, e.st.Sparse) {
			continue
		}
		var ha, hb plumbing.Hash
		aDir, bDir := inA && x.Mode == filemode.Dir, inB && y.Mode == filemode.Dir
		if aDir {
			ha = x.Hash
		}
		if bDir {
			hb = y.Hash
		}
		if aDir || bDir {
			if err := e.diffTree(ctx, ha, hb, p+"/", out); err != nil {
				return err
			}
		}
		if (inA && !aDir || inB && !bDir) && inSparse(p, e.st.Sparse) {
			c := treeChange{path: p}
			if inB && !bDir {
				c.to = &y
			}
			*out = append(*out, c)
		}
	}
	return nil
}

// treeEntries reads a tree's entries by name; the zero hash is empty.
func (e *entry) treeEntries(h plumbing.Hash) (map[string]object.TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	t, err := object.GetTree(e.repo.Storer, h)
	if err != nil {
		return nil, fmt.Errorf("reading tree %s: %w", h, err)
	}
	m := make(map[string]object.TreeEntry, len(t.Entries))
	for _, ent := range t.Entries {
		m[ent.Name] = ent
	}
	return m, nil
}

// overlapsSparse reports whether p is inside the sparse set or a directory
// above part of it.
func overlapsSparse(p string, sparse []string) bool {
	if inSparse(p, sparse) {
		return true
	}
	for _, d := range sparse {
		if strings.HasPrefix(d, p+"/") {
			return true
		}
	}
	return false
}

// materialise writes every file of the sparse set from tree into an empty
// work tree. Blobs are read in this goroutine (go-git's storage is not
// safe for concurrent reads); creating the files, the slow part on most
// file systems, is spread over a few writers.
func (e *entry) materialise(tree *object.Tree) error {
	if err := os.RemoveAll(e.workDir()); err != nil {
		return err
	}
	if err := os.MkdirAll(e.workDir(), 0o755); err != nil {
		return err
	}
	e.st.Files = map[string]fileState{}
	roots := e.st.Sparse
	if len(roots) == 0 {
		roots = []string{""}
	}
	w := newParallelWriter(e.workDir(), materialiseWriters)
	for _, root := range roots {
		t := tree
		if root != "" {
			sub, err := tree.Tree(root)
			if err != nil {
				continue // the sparse path does not exist (yet)
			}
			t = sub
		}
		walker := object.NewTreeWalker(t, true, nil)
		for {
			name, ent, err := walker.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				walker.Close()
				w.close()
				return err
			}
			if !ent.Mode.IsFile() || ent.Mode == filemode.Submodule {
				continue
			}
			content, err := e.blobContent(ent.Hash)
			if err != nil {
				walker.Close()
				w.close()
				return fmt.Errorf("reading blob for %s: %w", path.Join(root, name), err)
			}
			if !w.write(path.Join(root, name), ent.Hash, ent.Mode, content) {
				break
			}
		}
		walker.Close()
	}
	files, err := w.close()
	if err != nil {
		return err
	}
	maps.Copy(e.st.Files, files)
	return nil
}

// materialiseWriters is how many goroutines create files at once.
const materialiseWriters = 8

func (e *entry) blobContent(h plumbing.Hash) ([]byte, error) {
	blob, err := object.GetBlob(e.repo.Storer, h)
	if err != nil {
		return nil, err
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

type writeJob struct {
	path    string
	hash    plumbing.Hash
	mode    filemode.FileMode
	content []byte
}

// parallelWriter creates files in a fresh directory from several
// goroutines and collects their stat data.
type parallelWriter struct {
	root  string
	jobs  chan writeJob
	wg    sync.WaitGroup
	mu    sync.Mutex
	files map[string]fileState
	err   error
	dirs  sync.Map
}

func newParallelWriter(root string, n int) *parallelWriter {
	w := &parallelWriter{root: root, jobs: make(chan writeJob, 4*n), files: map[string]fileState{}}
	for range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for j := range w.jobs {
				fs, err := w.create(j)
				w.mu.Lock()
				if err != nil && w.err == nil {
					w.err = err
				}
				if err == nil {
					w.files[j.path] = fs
				}
				w.mu.Unlock()
			}
		}()
	}
	return w
}

// write queues a file; it returns false once a writer has failed.
func (w *parallelWriter) write(p string, h plumbing.Hash, mode filemode.FileMode, content []byte) bool {
	w.mu.Lock()
	failed := w.err != nil
	w.mu.Unlock()
	if failed {
		return false
	}
	w.jobs <- writeJob{path: p, hash: h, mode: mode, content: content}
	return true
}

func (w *parallelWriter) close() (map[string]fileState, error) {
	close(w.jobs)
	w.wg.Wait()
	return w.files, w.err
}

func (w *parallelWriter) create(j writeJob) (fileState, error) {
	full := filepath.Join(w.root, filepath.FromSlash(j.path))
	dir := filepath.Dir(full)
	if _, ok := w.dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fileState{}, err
		}
		w.dirs.Store(dir, true)
	}
	var fi fs.FileInfo
	var err error
	if j.mode == filemode.Symlink {
		if err = os.Symlink(string(j.content), full); err != nil {
			return fileState{}, err
		}
		fi, err = os.Lstat(full)
	} else {
		perm := os.FileMode(0o644)
		if j.mode == filemode.Executable {
			perm = 0o755
		}
		var f *os.File
		f, err = os.OpenFile(full, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
		if err != nil {
			return fileState{}, err
		}
		if _, err = f.Write(j.content); err == nil {
			fi, err = f.Stat()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fileState{}, err
	}
	return statOf(fi, j.hash, j.mode, time.Now()), nil
}

// writeFile writes the blob to the work tree and records it.
func (e *entry) writeFile(p string, h plumbing.Hash, mode filemode.FileMode) error {
	if mode == filemode.Submodule || mode == filemode.Dir {
		return nil
	}
	blob, err := object.GetBlob(e.repo.Storer, h)
	if err != nil {
		return fmt.Errorf("reading blob for %s: %w", p, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	full := filepath.Join(e.workDir(), filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	_ = os.Remove(full)
	if mode == filemode.Symlink {
		target, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if err := os.Symlink(string(target), full); err != nil {
			return err
		}
	} else {
		perm := os.FileMode(0o644)
		if mode == filemode.Executable {
			perm = 0o755
		}
		f, err := os.OpenFile(full, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	fi, err := os.Lstat(full)
	if err != nil {
		return err
	}
	e.st.Files[p] = statOf(fi, h, mode, time.Now())
	return nil
}

func statOf(fi fs.FileInfo, h plumbing.Hash, mode filemode.FileMode, now time.Time) fileState {
	mt := fi.ModTime()
	return fileState{Hash: h, Mode: mode, Size: fi.Size(), MTime: mt.UnixNano(), Racy: !mt.Before(now.Add(-racyWindow))}
}

// settle clears the racy mark of files whose mtime is older than the
// racy window at now. Call it just before the change callback: nothing has
// touched the work tree since the stat data was recorded, so a later write
// gets a later mtime than any settled entry.
func (e *entry) settle(now time.Time) {
	limit := now.Add(-racyWindow).UnixNano()
	for p, f := range e.st.Files {
		if f.Racy && f.MTime < limit {
			f.Racy = false
			e.st.Files[p] = f
		}
	}
}

func (e *entry) removeFile(p string) error {
	delete(e.st.Files, p)
	full := filepath.Join(e.workDir(), filepath.FromSlash(p))
	if err := os.Remove(full); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// remove directories left empty, up to the work tree root
	for d := filepath.Dir(full); d != e.workDir() && len(d) > len(e.workDir()); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

// fileChange is a work-tree file that differs from the manifest.
type fileChange struct {
	path    string
	deleted bool
	hash    plumbing.Hash
	mode    filemode.FileMode
}

// scanFiles is scan limited to the listed files; nil scans everything.
func (e *entry) scanFiles(files []string) ([]fileChange, error) {
	if files == nil {
		return e.scan()
	}
	now := time.Now()
	seen := map[string]bool{}
	var out []fileChange
	for _, f := range files {
		rel := path.Clean(filepath.ToSlash(f))
		if seen[rel] {
			continue
		}
		seen[rel] = true
		if rel == "." || strings.HasPrefix(rel, "../") || path.IsAbs(rel) || !inSparse(rel, e.st.Sparse) {
			return nil, fmt.Errorf("changed file %q is outside the checked-out paths", f)
		}
		full := filepath.Join(e.workDir(), filepath.FromSlash(rel))
		fi, err := os.Lstat(full)
		if errors.Is(err, os.ErrNotExist) {
			if _, known := e.st.Files[rel]; known {
				out = append(out, fileChange{path: rel, deleted: true})
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("changed file %q is a directory: list the files in it", f)
		}
		c, changed, err := e.examine(rel, full, fi, now)
		if err != nil {
			return nil, err
		}
		if changed {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// examine compares one work-tree file with the manifest, storing its
// content as a blob when it changed.
func (e *entry) examine(rel, full string, fi fs.FileInfo, now time.Time) (fileChange, bool, error) {
	mode, ok := modeOf(fi)
	if !ok {
		return fileChange{}, false, nil // sockets, devices: not content
	}
	old, known := e.st.Files[rel]
	if known && !old.Racy && old.Mode == mode && old.Size == fi.Size() && old.MTime == fi.ModTime().UnixNano() {
		return fileChange{}, false, nil
	}
	content, err := readContent(full, fi)
	if err != nil {
		return fileChange{}, false, fmt.Errorf("reading %s: %w", rel, err)
	}
	h := plumbing.ComputeHash(plumbing.BlobObject, content)
	if known && old.Hash == h && old.Mode == mode {
		e.st.Files[rel] = statOf(fi, h, mode, now)
		return fileChange{}, false, nil
	}
	if _, err := e.storeBlob(content); err != nil {
		return fileChange{}, false, fmt.Errorf("storing %s: %w", rel, err)
	}
	return fileChange{path: rel, hash: h, mode: mode}, true, nil
}

// scan walks the sparse set of the work tree and returns the files whose
// content or mode differ from the manifest. New content is written to the
// object store as blobs. Files whose stat matches a non-racy manifest entry
// are not read. The manifest's stat data is refreshed for files that were
// touched but not changed.
func (e *entry) scan() ([]fileChange, error) {
	now := time.Now()
	var out []fileChange
	seen := make(map[string]bool, len(e.st.Files))
	roots := e.st.Sparse
	if len(roots) == 0 {
		roots = []string{""}
	}
	for _, root := range roots {
		base := filepath.Join(e.workDir(), filepath.FromSlash(root))
		err := filepath.WalkDir(base, func(full string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, os.ErrNotExist) && full == base {
					return nil
				}
				return err
			}
			rel, _ := filepath.Rel(e.workDir(), full)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if d.Name() == ".git" && full != e.workDir() {
					return filepath.SkipDir
				}
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			seen[rel] = true
			c, changed, err := e.examine(rel, full, fi, now)
			if changed {
				out = append(out, c)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	for p := range e.st.Files {
		if !seen[p] {
			out = append(out, fileChange{path: p, deleted: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// restore undoes scanned changes so the work tree matches the manifest.
func (e *entry) restore(changes []fileChange) error {
	for _, ch := range changes {
		old, known := e.st.Files[ch.path]
		if !known {
			if err := e.removeFile(ch.path); err != nil {
				return err
			}
			continue
		}
		if err := e.writeFile(ch.path, old.Hash, old.Mode); err != nil {
			return err
		}
	}
	return nil
}

// accept records scanned changes as the manifest's new content (after they
// were committed).
func (e *entry) accept(changes []fileChange) {
	now := time.Now()
	for _, ch := range changes {
		if ch.deleted {
			delete(e.st.Files, ch.path)
			continue
		}
		full := filepath.Join(e.workDir(), filepath.FromSlash(ch.path))
		fi, err := os.Lstat(full)
		if err != nil {
			delete(e.st.Files, ch.path) // scanned again next time
			continue
		}
		e.st.Files[ch.path] = statOf(fi, ch.hash, ch.mode, now)
	}
}

func modeOf(fi fs.FileInfo) (filemode.FileMode, bool) {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return filemode.Symlink, true
	case fi.Mode().IsRegular():
		if fi.Mode().Perm()&0o111 != 0 {
			return filemode.Executable, true
		}
		return filemode.Regular, true
	}
	return 0, false
}

func readContent(full string, fi fs.FileInfo) ([]byte, error) {
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(full)
		return []byte(t), err
	}
	return os.ReadFile(full)
}

// storeBlob writes content to the object store as a blob.
func (e *entry) storeBlob(content []byte) (plumbing.Hash, error) {
	obj := e.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(content)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return e.repo.Storer.SetEncodedObject(obj)
}
