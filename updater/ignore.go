package updater

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// IgnoreFile is the name of the files whose gitignore-syntax patterns
// exclude paths from updates, in the directory that holds them and below
// (as Flux's source-controller honours them).
const IgnoreFile = ".sourceignore"

// ignoreRules are the patterns in force in one directory: those of its
// ancestors' ignore files, then its own (higher priority last).
type ignoreRules struct {
	patterns []gitignore.Pattern
}

func (r *ignoreRules) match(comps []string, isDir bool) bool {
	if r == nil || len(r.patterns) == 0 {
		return false
	}
	for i := len(r.patterns) - 1; i >= 0; i-- {
		if m := r.patterns[i].Match(comps, isDir); m != gitignore.NoMatch {
			return m == gitignore.Exclude
		}
	}
	return false
}

// with returns the rules of a child directory that has its own ignore
// file with content data; domain is the directory's path components.
func (r *ignoreRules) with(data []byte, domain []string) *ignoreRules {
	var own []gitignore.Pattern
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		own = append(own, gitignore.ParsePattern(line, domain))
	}
	if len(own) == 0 {
		return r
	}
	n := &ignoreRules{}
	if r != nil {
		n.patterns = append(n.patterns, r.patterns...)
	}
	n.patterns = append(n.patterns, own...)
	return n
}

// splitPath splits a slash-separated relative path into components; "."
// has none.
func splitPath(rel string) []string {
	if rel == "." || rel == "" {
		return nil
	}
	return strings.Split(rel, "/")
}

// ignoreCache loads the rules of directories on demand, for warm runs that
// look at a few paths only.
type ignoreCache struct {
	root  string
	rules map[string]*ignoreRules
	// ignoredDir records directories excluded by their parents' rules.
	ignoredDir map[string]bool
}

func newIgnoreCache(root string) *ignoreCache {
	return &ignoreCache{root: root, rules: map[string]*ignoreRules{}, ignoredDir: map[string]bool{}}
}

// dirRules returns the rules in force in dir (relative, slash form) and
// whether dir or one of its ancestors is excluded.
func (c *ignoreCache) dirRules(dir string) (*ignoreRules, bool, error) {
	if r, ok := c.rules[dir]; ok {
		return r, c.ignoredDir[dir], nil
	}
	var parent *ignoreRules
	ignored := false
	comps := splitPath(dir)
	if len(comps) > 0 {
		var err error
		parent, ignored, err = c.dirRules(path.Dir(dir))
		if err != nil {
			return nil, false, err
		}
		if !ignored && (comps[len(comps)-1] == ".git" || parent.match(comps, true)) {
			ignored = true
		}
	}
	r := parent
	data, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(dir), IgnoreFile))
	switch {
	case err == nil:
		r = parent.with(data, comps)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
	default:
		return nil, false, err
	}
	c.rules[dir] = r
	c.ignoredDir[dir] = ignored
	return r, ignored, nil
}

// ignored reports whether the file at rel is excluded.
func (c *ignoreCache) ignored(rel string) (bool, error) {
	r, dirIgnored, err := c.dirRules(path.Dir(rel))
	if err != nil || dirIgnored {
		return dirIgnored, err
	}
	return r.match(splitPath(rel), false), nil
}
