package gitpush

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Checkout says what to check out, as Flux's GitRepositoryRef does. When
// several are set the most specific wins: Commit, then Name, then SemVer,
// then Tag, then Branch. The zero value is the remote's default branch
// (what HEAD points to).
type Checkout struct {
	Branch string
	Tag    string
	// SemVer is a range over tags (Masterminds/semver syntax); the highest
	// matching tag is checked out. A leading "v" on tags is allowed.
	SemVer string
	// Name is a full ref name: refs/heads/main, refs/tags/v1, refs/pull/1/head.
	Name string
	// Commit is a full SHA-1. With Branch set, the branch is fetched (full
	// history) and the commit must be on it; otherwise the default branch.
	Commit string
}

func (co Checkout) String() string {
	switch {
	case co.Commit != "":
		if co.Branch != "" {
			return co.Branch + "@" + co.Commit
		}
		return co.Commit
	case co.Name != "":
		return co.Name
	case co.SemVer != "":
		return "semver:" + co.SemVer
	case co.Tag != "":
		return "tag:" + co.Tag
	case co.Branch != "":
		return co.Branch
	}
	return "HEAD"
}

// resolved is a checkout resolved against the remote's refs.
type resolved struct {
	ref    plumbing.ReferenceName // fetched into refs/dockhand/head
	hash   plumbing.Hash          // commit to check out
	branch string                 // the branch name when the checkout is a branch
	full   bool                   // fetch the whole history (commit checkouts)
}

// listRefs asks the remote for its refs: one round trip.
func (c *Client) listRefs(ctx context.Context, cn *conn) ([]*plumbing.Reference, error) {
	r := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{cn.url}})
	var refs []*plumbing.Reference
	err := cn.exchange(ctx, func(ctx context.Context) error {
		var err error
		refs, err = r.ListContext(ctx, &git.ListOptions{
			Auth: cn.auth, CABundle: cn.caBundle, ClientCert: cn.clientCert, ClientKey: cn.clientKey,
			ProxyOptions: cn.proxy, PeelingOption: git.AppendPeeled,
		})
		return err
	})
	return refs, err
}

// resolveRef picks the commit for co out of the remote's refs. It is pure.
func resolveRef(co Checkout, refs []*plumbing.Reference) (resolved, error) {
	byName := make(map[plumbing.ReferenceName]*plumbing.Reference, len(refs))
	for _, r := range refs {
		byName[r.Name()] = r
	}
	// peeled returns the commit a ref points to (annotated tags peeled).
	peeled := func(name plumbing.ReferenceName) (plumbing.Hash, bool) {
		if p, ok := byName[name+"^{}"]; ok {
			return p.Hash(), true
		}
		r, ok := byName[name]
		if !ok {
			return plumbing.ZeroHash, false
		}
		if r.Type() == plumbing.SymbolicReference {
			t, ok := byName[r.Target()]
			if !ok {
				return plumbing.ZeroHash, false
			}
			return t.Hash(), true
		}
		return r.Hash(), true
	}
	one := func(name plumbing.ReferenceName, branch string) (resolved, error) {
		h, ok := peeled(name)
		if !ok {
			return resolved{}, fmt.Errorf("%w: %s", ErrRefNotFound, name)
		}
		return resolved{ref: name, hash: h, branch: branch}, nil
	}
	switch {
	case co.Commit != "":
		if !plumbing.IsHash(co.Commit) {
			return resolved{}, fmt.Errorf("commit %q is not a full SHA-1", co.Commit)
		}
		base, err := resolveRef(Checkout{Branch: co.Branch}, refs)
		if err != nil {
			return resolved{}, err
		}
		return resolved{ref: base.ref, hash: plumbing.NewHash(co.Commit), full: true}, nil
	case co.Name != "":
		name := plumbing.ReferenceName(co.Name)
		if !strings.HasPrefix(co.Name, "refs/") {
			return resolved{}, fmt.Errorf("ref name %q must start with refs/", co.Name)
		}
		branch := ""
		if name.IsBranch() {
			branch = name.Short()
		}
		return one(name, branch)
	case co.SemVer != "":
		return resolveSemver(co.SemVer, refs, peeled)
	case co.Tag != "":
		return one(plumbing.NewTagReferenceName(co.Tag), "")
	case co.Branch != "":
		return one(plumbing.NewBranchReferenceName(co.Branch), co.Branch)
	}
	head, ok := byName[plumbing.HEAD]
	if ok && head.Type() == plumbing.SymbolicReference && head.Target().IsBranch() {
		return one(head.Target(), head.Target().Short())
	}
	if ok { // no symref capability: find a branch at HEAD's commit, preferring main and master
		var names []string
		for _, r := range refs {
			if r.Name().IsBranch() && r.Hash() == head.Hash() {
				names = append(names, r.Name().Short())
			}
		}
		sort.Slice(names, func(i, j int) bool { return rankBranch(names[i]) < rankBranch(names[j]) })
		if len(names) > 0 {
			return one(plumbing.NewBranchReferenceName(names[0]), names[0])
		}
	}
	return resolved{}, fmt.Errorf("%w: the remote has no default branch (HEAD)", ErrRefNotFound)
}

func rankBranch(b string) string {
	switch b {
	case "main":
		return "0"
	case "master":
		return "1"
	}
	return "2" + b
}

func resolveSemver(rng string, refs []*plumbing.Reference, peeled func(plumbing.ReferenceName) (plumbing.Hash, bool)) (resolved, error) {
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return resolved{}, fmt.Errorf("parsing semver range %q: %w", rng, err)
	}
	var best *semver.Version
	var bestName plumbing.ReferenceName
	for _, r := range refs {
		n := r.Name()
		if !n.IsTag() || strings.HasSuffix(n.String(), "^{}") {
			continue
		}
		v, err := semver.NewVersion(n.Short())
		if err != nil || !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best, bestName = v, n
		}
	}
	if best == nil {
		return resolved{}, fmt.Errorf("%w: no tag matches semver range %q", ErrRefNotFound, rng)
	}
	h, _ := peeled(bestName)
	return resolved{ref: bestName, hash: h}, nil
}
