package gitpush

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/utils/merkletrie"
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
	changed, err := e.diffPaths(ctx, from, to)
	if err != nil {
		return nil, err
	}
	for _, p := range changed {
		ent, err := to.FindEntry(p)
		if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
			if err := e.removeFile(p); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := e.writeFile(p, ent.Hash, ent.Mode); err != nil {
			return nil, err
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
// the sparse set. Only tree objects are read.
func (e *entry) diffPaths(ctx context.Context, from, to *object.Tree) ([]string, error) {
	changes, err := object.DiffTreeWithOptions(ctx, from, to, &object.DiffTreeOptions{})
	if err != nil {
		return nil, fmt.Errorf("diffing trees: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, ch := range changes {
		action, err := ch.Action()
		if err != nil {
			return nil, err
		}
		names := []string{ch.To.Name}
		switch action {
		case merkletrie.Delete:
			names = []string{ch.From.Name}
		case merkletrie.Modify:
			names = []string{ch.From.Name, ch.To.Name}
		}
		for _, n := range names {
			if n != "" && !seen[n] && inSparse(n, e.st.Sparse) {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// materialise writes every file of the sparse set from tree into an empty
// work tree.
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
	for _, root := range roots {
		t := tree
		if root != "" {
			sub, err := tree.Tree(root)
			if err != nil {
				continue // the sparse path does not exist (yet)
			}
			t = sub
		}
		w := object.NewTreeWalker(t, true, nil)
		for {
			name, ent, err := w.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				w.Close()
				return err
			}
			if !ent.Mode.IsFile() {
				continue
			}
			if err := e.writeFile(path.Join(root, name), ent.Hash, ent.Mode); err != nil {
				w.Close()
				return err
			}
		}
		w.Close()
	}
	return nil
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
			mode, ok := modeOf(fi)
			if !ok {
				return nil // sockets, devices: not content
			}
			seen[rel] = true
			old, known := e.st.Files[rel]
			if known && !old.Racy && old.Mode == mode && old.Size == fi.Size() && old.MTime == fi.ModTime().UnixNano() {
				return nil
			}
			content, err := readContent(full, fi)
			if err != nil {
				return fmt.Errorf("reading %s: %w", rel, err)
			}
			h := plumbing.ComputeHash(plumbing.BlobObject, content)
			if known && old.Hash == h && old.Mode == mode {
				e.st.Files[rel] = statOf(fi, h, mode, now)
				return nil
			}
			if _, err := e.storeBlob(content); err != nil {
				return fmt.Errorf("storing %s: %w", rel, err)
			}
			out = append(out, fileChange{path: rel, hash: h, mode: mode})
			return nil
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
