package gitpush

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Author is a commit author or committer.
type Author struct {
	Name  string
	Email string
}

// CommitOptions says who commits and how the commit is signed.
type CommitOptions struct {
	// Author is required.
	Author Author
	// Committer defaults to Author.
	Committer *Author
	// Signer signs the commit; nil leaves it unsigned.
	Signer Signer
}

func (o CommitOptions) validate() error {
	if strings.TrimSpace(o.Author.Name) == "" || strings.TrimSpace(o.Author.Email) == "" {
		return errors.New("commit author name and email are required")
	}
	if o.Committer != nil && (strings.TrimSpace(o.Committer.Name) == "" || strings.TrimSpace(o.Committer.Email) == "") {
		return errors.New("committer name and email must both be set")
	}
	return nil
}

// buildTree returns the tree of commit base with changes applied. Only the
// trees on the paths of the changes are read and rewritten.
func (e *entry) buildTree(base plumbing.Hash, changes []fileChange) (plumbing.Hash, error) {
	c, err := object.GetCommit(e.repo.Storer, base)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h, err := e.editTree(c.TreeHash, "", changes)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if h.IsZero() { // every file deleted: the empty tree
		obj := e.repo.Storer.NewEncodedObject()
		if err := (&object.Tree{}).Encode(obj); err != nil {
			return plumbing.ZeroHash, err
		}
		return e.repo.Storer.SetEncodedObject(obj)
	}
	return h, nil
}

// editTree applies changes (paths relative to the repository root, all
// under prefix) to the tree h (zero for a new directory). It returns the
// zero hash when the result is empty.
func (e *entry) editTree(h plumbing.Hash, prefix string, changes []fileChange) (plumbing.Hash, error) {
	entries := map[string]object.TreeEntry{}
	if !h.IsZero() {
		t, err := object.GetTree(e.repo.Storer, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("reading tree %s: %w", prefix, err)
		}
		for _, ent := range t.Entries {
			entries[ent.Name] = ent
		}
	}
	sub := map[string][]fileChange{}
	for _, ch := range changes {
		rel := strings.TrimPrefix(ch.path, prefix)
		if i := strings.IndexByte(rel, '/'); i >= 0 {
			sub[rel[:i]] = append(sub[rel[:i]], ch)
			continue
		}
		if ch.deleted {
			delete(entries, rel)
			continue
		}
		entries[rel] = object.TreeEntry{Name: rel, Mode: ch.mode, Hash: ch.hash}
	}
	for name, chs := range sub {
		var old plumbing.Hash
		if ent, ok := entries[name]; ok && ent.Mode == filemode.Dir {
			old = ent.Hash
		}
		nh, err := e.editTree(old, prefix+name+"/", chs)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if nh.IsZero() {
			if ent, ok := entries[name]; ok && ent.Mode == filemode.Dir {
				delete(entries, name) // the directory emptied; a file of that name stays
			}
			continue
		}
		entries[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: nh}
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, nil
	}
	t := &object.Tree{Entries: make([]object.TreeEntry, 0, len(entries))}
	for _, ent := range entries {
		t.Entries = append(t.Entries, ent)
	}
	// Git orders entries by name, comparing a directory as if it ended in "/".
	key := func(ent object.TreeEntry) string {
		if ent.Mode == filemode.Dir {
			return ent.Name + "/"
		}
		return ent.Name
	}
	sort.Slice(t.Entries, func(i, j int) bool { return key(t.Entries[i]) < key(t.Entries[j]) })
	obj := e.repo.Storer.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return e.repo.Storer.SetEncodedObject(obj)
}

// writeCommit creates (and signs) a commit of tree on parent.
func (e *entry) writeCommit(o CommitOptions, msg string, tree, parent plumbing.Hash, now time.Time) (plumbing.Hash, error) {
	committer := o.Author
	if o.Committer != nil {
		committer = *o.Committer
	}
	c := &object.Commit{
		Author:       object.Signature{Name: o.Author.Name, Email: o.Author.Email, When: now},
		Committer:    object.Signature{Name: committer.Name, Email: committer.Email, When: now},
		Message:      msg,
		TreeHash:     tree,
		ParentHashes: []plumbing.Hash{parent},
	}
	if o.Signer != nil {
		payload := e.repo.Storer.NewEncodedObject()
		if err := c.EncodeWithoutSignature(payload); err != nil {
			return plumbing.ZeroHash, err
		}
		r, err := payload.Reader()
		if err != nil {
			return plumbing.ZeroHash, err
		}
		b := make([]byte, payload.Size())
		_, err = readFull(r, b)
		r.Close()
		if err != nil {
			return plumbing.ZeroHash, err
		}
		sig, err := o.Signer.Sign(b)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("signing commit: %w", err)
		}
		c.PGPSignature = sig
	}
	obj := e.repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return e.repo.Storer.SetEncodedObject(obj)
}
