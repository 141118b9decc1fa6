package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/dockhand-dev/dockhand/internal/crdschema"
	"github.com/dockhand-dev/dockhand/internal/manifest"
)

// ErrNoObjects is returned by Manifests.Load when the files hold no
// ImageRepository, ImagePolicy or ImageUpdateAutomation.
var ErrNoObjects = errors.New("no ImageRepository, ImagePolicy or ImageUpdateAutomation found in the manifests")

// ManifestError is returned by Manifests.Load when objects in the files
// are invalid: one Problem each, located by file and line.
type ManifestError struct {
	Problems []manifest.Problem
}

// maxProblemsInError bounds how many problems Error spells out.
const maxProblemsInError = 10

func (e *ManifestError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("1 problem in the manifests: ")
	} else {
		fmt.Fprintf(&b, "%d problems in the manifests: ", len(e.Problems))
	}
	for i, p := range e.Problems {
		if i == maxProblemsInError {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Manifests are the files a Runner's objects come from. Load reads and
// validates them (at start, and whenever Run finds them changed); Changed
// tells, cheaply, whether they changed since the last Load. A Manifests is
// used by one goroutine at a time: the caller's until it hands it to New,
// then Run's.
type Manifests struct {
	// Paths are the files and directories to read, as manifest.Load
	// takes them.
	Paths []string
	// Options are manifest.Load's. A nil Validator is built on the first
	// Load and kept for the next ones.
	Options manifest.Options

	seen      stamp  // the files as the last Load (or Changed) saw them
	candidate string // a fingerprint other than seen's that the previous Changed found
}

// stamp is a fingerprint of the manifest files in two parts: a cheap one
// (the paths, sizes and modification times) and the hash of their
// contents, computed only when the cheap one differs.
type stamp struct {
	stat, content string
}

// Load reads every manifest file under Paths and validates the objects
// found. It returns a *ManifestError listing every problem, ErrNoObjects
// when the files hold none of the image kinds, or the error of a path that
// cannot be read. Whether it succeeds or not, Changed compares the files
// with what this Load saw, so invalid files are loaded again only once
// they change again.
func (m *Manifests) Load(ctx context.Context) (*manifest.Objects, error) {
	// The stat part is taken before the files are read: an edit made while
	// they are being read is seen by the next Changed.
	stat, files, listErr := statStamp(m.Paths)
	m.candidate = ""
	if m.Options.Validator == nil {
		v, err := crdschema.New()
		if err != nil {
			m.seen = stamp{stat: stat, content: contentStamp(files, listErr)}
			return nil, fmt.Errorf("loading CRD schemas: %w", err)
		}
		m.Options.Validator = v
	}
	// The contents are hashed as they are loaded: the fingerprint is of
	// exactly what was loaded, and the files are read once.
	h := sha256.New()
	opts := m.Options
	opts.OnFile = func(path string, raw []byte) { hashContent(h, path, raw) }
	objs, problems, err := manifest.Load(ctx, m.Paths, opts)
	if err != nil {
		m.seen = stamp{stat: stat, content: contentStamp(files, listErr)}
		return nil, err
	}
	m.seen = stamp{stat: stat, content: hex.EncodeToString(h.Sum(nil))}
	if len(problems) > 0 {
		return nil, &ManifestError{Problems: problems}
	}
	if len(objs.Repositories)+len(objs.Policies)+len(objs.Automations) == 0 {
		return nil, ErrNoObjects
	}
	return objs, nil
}

// Changed reports whether the files differ from what the last Load read
// (a file added, removed or with other contents) and have stayed as they
// are since the previous call, so that files still being written (an
// editor saving, a git pull) are not loaded half done: called at an
// interval, it reports a change one interval after the files last moved.
// Files whose modification time changed but whose contents did not (a
// touch, a checkout of the same commit) are not a change. A path that
// cannot be read is a change when its error differs from the last one.
func (m *Manifests) Changed() bool {
	stat, files, listErr := statStamp(m.Paths)
	if stat == m.seen.stat {
		m.candidate = ""
		return false
	}
	if stat != m.candidate {
		m.candidate = stat // moved since the previous call: wait for the next
		return false
	}
	if contentStamp(files, listErr) == m.seen.content {
		m.seen.stat = stat // same contents: the times moved only
		return false
	}
	return true
}

// statStamp lists the files Load reads and hashes their paths, sizes,
// modification times and modes. A listing that fails hashes its error.
func statStamp(paths []string) (sum string, files []string, listErr error) {
	h := sha256.New()
	files, listErr = manifest.Files(paths)
	if listErr != nil {
		fmt.Fprintf(h, "error %v\n", listErr)
		return hex.EncodeToString(h.Sum(nil)), nil, listErr
	}
	// One line per file, built in one buffer: a long run looks every few
	// seconds, over what may be thousands of files.
	var line []byte
	for _, f := range files {
		line = strconv.AppendQuote(line[:0], f)
		info, err := os.Stat(f)
		if err != nil {
			line = append(line, " error "...)
			line = append(line, err.Error()...)
		} else {
			line = append(line, ' ')
			line = strconv.AppendInt(line, info.Size(), 10)
			line = append(line, ' ')
			line = strconv.AppendInt(line, info.ModTime().UnixNano(), 10)
			line = append(line, ' ')
			line = strconv.AppendUint(line, uint64(info.Mode()), 8)
		}
		h.Write(append(line, '\n'))
	}
	return hex.EncodeToString(h.Sum(nil)), files, nil
}

// contentStamp hashes the paths and contents of files (a file that cannot
// be read, by its error), or listErr.
func contentStamp(files []string, listErr error) string {
	h := sha256.New()
	if listErr != nil {
		fmt.Fprintf(h, "error %v\n", listErr)
		return hex.EncodeToString(h.Sum(nil))
	}
	for _, f := range files {
		if err := hashFile(h, f); err != nil {
			fmt.Fprintf(h, "%q error %v\n", f, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hashFile(w io.Writer, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	hashContent(w, path, raw)
	return nil
}

// hashContent writes one file to a content fingerprint. The path and
// length frame the contents, so two files never hash like one.
func hashContent(w io.Writer, path string, raw []byte) {
	fmt.Fprintf(w, "%q %d\n", path, len(raw))
	_, _ = w.Write(raw)
}
