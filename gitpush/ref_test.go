package gitpush

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/go-git/go-git/v5/plumbing"
)

func h(n byte) plumbing.Hash {
	var x plumbing.Hash
	for i := range x {
		x[i] = n
	}
	return x
}

func TestResolveRef(t *testing.T) {
	refs := []*plumbing.Reference{
		plumbing.NewSymbolicReference("HEAD", "refs/heads/main"),
		plumbing.NewHashReference("refs/heads/main", h(1)),
		plumbing.NewHashReference("refs/heads/dev", h(2)),
		plumbing.NewHashReference("refs/tags/v1.2.0", h(3)),
		plumbing.NewHashReference("refs/tags/v1.10.0", h(4)), // annotated
		plumbing.NewHashReference("refs/tags/v1.10.0^{}", h(5)),
		plumbing.NewHashReference("refs/tags/v2.0.0", h(6)),
		plumbing.NewHashReference("refs/tags/not-semver", h(7)),
		plumbing.NewHashReference("refs/pull/1/head", h(8)),
	}
	tests := []struct {
		co      Checkout
		ref     plumbing.ReferenceName
		hash    plumbing.Hash
		branch  string
		wantErr string
	}{
		{co: Checkout{}, ref: "refs/heads/main", hash: h(1), branch: "main"},
		{co: Checkout{Branch: "dev"}, ref: "refs/heads/dev", hash: h(2), branch: "dev"},
		{co: Checkout{Tag: "v1.2.0"}, ref: "refs/tags/v1.2.0", hash: h(3)},
		{co: Checkout{Tag: "v1.10.0"}, ref: "refs/tags/v1.10.0", hash: h(5)},
		{co: Checkout{SemVer: "1.x"}, ref: "refs/tags/v1.10.0", hash: h(5)},
		{co: Checkout{SemVer: ">=2.0.0", Tag: "v1.2.0", Branch: "dev"}, ref: "refs/tags/v2.0.0", hash: h(6)},
		{co: Checkout{Name: "refs/pull/1/head"}, ref: "refs/pull/1/head", hash: h(8)},
		{co: Checkout{Name: "refs/heads/dev"}, ref: "refs/heads/dev", hash: h(2), branch: "dev"},
		{co: Checkout{Commit: h(9).String(), Branch: "dev"}, ref: "refs/heads/dev", hash: h(9)},
		{co: Checkout{Branch: "nope"}, wantErr: "ref not found"},
		{co: Checkout{SemVer: ">=3"}, wantErr: "no tag matches"},
		{co: Checkout{SemVer: "not a range"}, wantErr: "parsing semver range"},
		{co: Checkout{Name: "main"}, wantErr: "must start with refs/"},
		{co: Checkout{Commit: "abc"}, wantErr: "full SHA-1"},
	}
	for _, tc := range tests {
		t.Run(tc.co.String(), func(t *testing.T) {
			got, err := resolveRef(tc.co, refs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("resolveRef(%+v) error = %v, want %q", tc.co, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ref != tc.ref || got.hash != tc.hash || got.branch != tc.branch {
				t.Errorf("resolveRef(%+v) = %s %s %q, want %s %s %q", tc.co, got.ref, got.hash, got.branch, tc.ref, tc.hash, tc.branch)
			}
		})
	}
	// Without a symref, HEAD's branch is guessed, main first.
	noSym := []*plumbing.Reference{plumbing.NewHashReference("HEAD", h(1)), plumbing.NewHashReference("refs/heads/zz", h(1)), plumbing.NewHashReference("refs/heads/main", h(1))}
	if got, err := resolveRef(Checkout{}, noSym); err != nil || got.branch != "main" {
		t.Errorf("resolveRef without symref = %+v, %v; want main", got, err)
	}
}

func TestCheckoutKinds(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	gitTag(t, srv, "app", "v1.0.0", "main")
	srv.UpstreamCommit(t, "app", gitserver.Change{Files: map[string]string{"app.yaml": "v2\n"}})
	gitTag(t, srv, "app", "v1.1.0", "main")
	srv.UpstreamCommit(t, "app", gitserver.Change{Files: map[string]string{"app.yaml": "v3\n"}})
	for _, tc := range []struct {
		co   Checkout
		want string
	}{
		{Checkout{Tag: "v1.0.0"}, "v1\n"},
		{Checkout{SemVer: "~1"}, "v2\n"},
		{Checkout{Name: "refs/heads/main"}, "v3\n"},
	} {
		var seen string
		_, err := newClient(t).Run(t.Context(), Request{
			Remote: httpRemote(srv, "app"), Checkout: tc.co, Commit: testAuthor, Push: PushOptions{Branch: "out"},
			Change: func(ctx context.Context, wt Worktree) (Change, error) {
				b, err := os.ReadFile(filepath.Join(wt.Dir, "app.yaml"))
				seen = string(b)
				return Change{Message: "m"}, err
			},
		})
		if err != nil || seen != tc.want {
			t.Errorf("checkout %s: app.yaml = %q, %v; want %q", tc.co, seen, err, tc.want)
		}
	}
}

// gitTag makes an annotated tag on the server's repository.
func gitTag(t *testing.T, srv *gitserver.Server, repo, tag, rev string) {
	t.Helper()
	cmd := exec.Command("git", "-C", srv.Path(repo), "-c", "user.name=t", "-c", "user.email=t@t", "tag", "-a", "-m", tag, tag, rev)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git tag: %v: %s", err, out)
	}
}
