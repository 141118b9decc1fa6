package gitpush

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

const stateVersion = 1

// entry is one cache entry: a bare repository, a work tree of the sparse
// paths, and what the work tree holds.
type entry struct {
	dir     string
	repo    *git.Repository
	storage *filesystem.Storage
	st      *state
	unlock  func()
}

type fileState struct {
	Hash  plumbing.Hash
	Mode  filemode.FileMode
	Size  int64
	MTime int64 // UnixNano
	Racy  bool  // written too recently to trust the stat: hash on next scan
}

type pushRecord struct {
	Commit, Parent, Tree plumbing.Hash
}

type state struct {
	Version  int
	URL      string
	Sparse   []string
	Worktree plumbing.Hash // commit the work tree reflects ("" before checkout)
	Seen     plumbing.Hash // last checkout head seen upstream
	Files    map[string]fileState
	Pushed   map[string]pushRecord // by remote ref name
	Commits  int                   // commits written since the entry was created
}

// maxCommitsPerEntry: each commit leaves a few loose objects behind; after
// this many the entry starts afresh rather than collecting them forever.
const maxCommitsPerEntry = 1000

// cacheKey names an entry by remote, checkout and sparse paths.
func cacheKey(url string, co Checkout, sparse []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", url, co.Branch, co.Tag, co.SemVer, co.Name, co.Commit, strings.Join(sparse, "\x00"))
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// normSparse cleans sparse paths: slash-separated, relative, no "." or
// "..", sorted, nested paths folded into their parent. Empty (or ".")
// means the whole tree and returns nil.
func normSparse(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		p = filepath.ToSlash(strings.TrimSpace(p))
		p = strings.Trim(filepath.ToSlash(filepath.Clean("/"+p)), "/")
		if p == "" || p == "." {
			return nil, nil
		}
		for _, part := range strings.Split(p, "/") {
			if part == ".." || part == ".git" {
				return nil, fmt.Errorf("sparse path %q is not allowed", p)
			}
		}
		out = append(out, p)
	}
	sort.Strings(out)
	var folded []string
	for _, p := range out {
		if n := len(folded); n > 0 && (p == folded[n-1] || strings.HasPrefix(p, folded[n-1]+"/")) {
			continue
		}
		folded = append(folded, p)
	}
	return folded, nil
}

func inSparse(path string, sparse []string) bool {
	if len(sparse) == 0 {
		return true
	}
	for _, d := range sparse {
		if path == d || strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}

// openEntry locks and opens (or creates) the cache entry for key. The lock
// is held in process (mutex) and across processes (flock).
func (c *Client) openEntry(key, url string, sparse []string) (*entry, error) {
	unlock := c.lock(key)
	dir := filepath.Join(c.dir, key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		unlock()
		return nil, err
	}
	lf, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		unlock()
		return nil, err
	}
	if err := lockFile(lf); err != nil {
		lf.Close()
		unlock()
		return nil, err
	}
	e := &entry{dir: dir, unlock: func() {
		_ = unlockFile(lf)
		lf.Close()
		unlock()
	}}
	if err := e.open(url, sparse, c.opts.maxPacks); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *entry) close() {
	if e.storage != nil {
		_ = e.storage.Close()
	}
	e.unlock()
}

// openRepo opens (or initialises) the bare repository with descriptors
// kept open and exclusive access: the entry lock guarantees nobody else
// writes it, and reopening the pack for every object read costs seconds on
// a large checkout.
func openRepo(dir string, init bool) (*git.Repository, *filesystem.Storage, error) {
	if init {
		if _, err := git.PlainInit(dir, true); err != nil {
			return nil, nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		return nil, nil, err
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRUDefault(),
		filesystem.Options{KeepDescriptors: true, ExclusiveAccess: true})
	repo, err := git.Open(st, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return repo, st, nil
}

func (e *entry) repoDir() string { return filepath.Join(e.dir, "repo") }
func (e *entry) workDir() string { return filepath.Join(e.dir, "work") }

// open loads the state; a missing, foreign or corrupt entry starts afresh,
// as does one with more than maxPacks pack files.
func (e *entry) open(url string, sparse []string, maxPacks int) error {
	st, err := e.loadState()
	fresh := err != nil || st.Version != stateVersion || st.URL != url || !equalStrings(st.Sparse, sparse) ||
		countPacks(e.repoDir()) > maxPacks || st.Commits > maxCommitsPerEntry
	if !fresh {
		e.repo, e.storage, err = openRepo(e.repoDir(), false)
		fresh = err != nil
	}
	if fresh {
		return e.reset(url, sparse)
	}
	e.st = st
	return nil
}

func (e *entry) reset(url string, sparse []string) error {
	for _, d := range []string{e.repoDir(), e.workDir(), filepath.Join(e.dir, "state")} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	if e.storage != nil {
		_ = e.storage.Close()
	}
	repo, st, err := openRepo(e.repoDir(), true)
	if err != nil {
		return fmt.Errorf("initialising cache repository: %w", err)
	}
	e.storage = st
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
		return err
	}
	if err := os.MkdirAll(e.workDir(), 0o755); err != nil {
		return err
	}
	e.repo = repo
	e.st = &state{Version: stateVersion, URL: url, Sparse: sparse, Files: map[string]fileState{}, Pushed: map[string]pushRecord{}}
	return nil
}

func countPacks(repoDir string) int {
	m, _ := filepath.Glob(filepath.Join(repoDir, "objects", "pack", "*.pack"))
	return len(m)
}

func (e *entry) loadState() (*state, error) {
	b, err := os.ReadFile(filepath.Join(e.dir, "state"))
	if err != nil {
		return nil, err
	}
	var st state
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return nil, err
	}
	if st.Files == nil {
		st.Files = map[string]fileState{}
	}
	if st.Pushed == nil {
		st.Pushed = map[string]pushRecord{}
	}
	return &st, nil
}

// saveState writes the state atomically.
func (e *entry) saveState() error {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(e.st); err != nil {
		return err
	}
	tmp := filepath.Join(e.dir, "state.tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(e.dir, "state"))
}

// dirty marks the work tree as possibly differing from its manifest (a
// change callback ran), so the next run scans and restores it first.
func (e *entry) setDirty(d bool) error {
	p := filepath.Join(e.dir, "dirty")
	if d {
		return os.WriteFile(p, nil, 0o600)
	}
	err := os.Remove(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func (e *entry) isDirty() bool {
	_, err := os.Stat(filepath.Join(e.dir, "dirty"))
	return err == nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
