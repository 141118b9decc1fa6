package gitpush

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/google/go-cmp/cmp"
)

var testAuthor = CommitOptions{Author: Author{Name: "dockhand", Email: "bot@dockhand.dev"}}

// setFile returns a ChangeFunc that writes content to path.
func setFile(path, content, msg string) ChangeFunc {
	return func(ctx context.Context, wt Worktree) (Change, error) {
		full := filepath.Join(wt.Dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return Change{}, err
		}
		return Change{Message: msg}, os.WriteFile(full, []byte(content), 0o644)
	}
}

func newClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := New(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func httpRemote(srv *gitserver.Server, name string) Remote {
	user, pass := srv.HTTP.BasicAuth()
	a := &Auth{Username: user, Password: pass, CACert: srv.HTTP.CACertPEM()}
	if !srv.HTTP.TLS() {
		a.AllowInsecureHTTP = true
	}
	return Remote{URL: srv.HTTP.URL(name), Auth: a}
}

func TestRunCommitsAndPushesToCheckoutBranch(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth("bot", "s3cret-pass"), gitserver.WithTLS())
	seed := srv.CreateRepo(t, "app", map[string]string{
		"deploy/app.yaml":  "image: app:1.0.0\n",
		"other/keep.txt":   "keep me\n",
		"deploy/script.sh": "#!/bin/sh\n",
	})
	c := newClient(t)
	ctx := t.Context()
	var heads []string
	req := Request{
		Remote: httpRemote(srv, "app"), Checkout: Checkout{Branch: "main"}, Paths: []string{"deploy"},
		Commit: testAuthor,
		Change: func(ctx context.Context, wt Worktree) (Change, error) {
			if _, err := os.Stat(filepath.Join(wt.Dir, "other/keep.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("file outside the sparse path checked out: stat error %v", err)
			}
			heads = append(heads, wt.Head)
			return setFile("deploy/app.yaml", "image: app:1.0.1\n", "Update app to 1.0.1")(ctx, wt)
		},
	}
	res, err := c.Run(ctx, req)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Commit == "" || !slices.Equal(res.Pushed, []string{"refs/heads/main"}) {
		t.Fatalf("Run = %+v, want a commit pushed to refs/heads/main", res)
	}
	if got := srv.BranchHead(t, "app", "main"); got != res.Commit {
		t.Errorf("remote main = %s, want %s", got, res.Commit)
	}
	if got := srv.FileAt(t, "app", "main", "deploy/app.yaml"); got != "image: app:1.0.1\n" {
		t.Errorf("deploy/app.yaml = %q", got)
	}
	if got := srv.FileAt(t, "app", "main", "other/keep.txt"); got != "keep me\n" {
		t.Errorf("other/keep.txt = %q (files outside the sparse path must be kept)", got)
	}
	log := srv.Commits(t, "app", "main")
	if len(log) != 2 || log[0].Subject() != "Update app to 1.0.1" || log[0].AuthorEmail != "bot@dockhand.dev" || log[0].Parents[0] != seed {
		t.Errorf("log = %+v", log)
	}

	// Same change again: nothing to commit.
	res2, err := c.Run(ctx, req)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if res2.Commit != "" || res2.Head != res.Commit {
		t.Errorf("second Run = %+v, want no commit on head %s", res2, res.Commit)
	}
	if want := []string{seed, res.Commit}; !slices.Equal(heads, want) {
		t.Errorf("Worktree.Head of each call = %v, want %v", heads, want)
	}

	// Skip path: head equals SkipIfHead.
	req.SkipIfHead = res.Commit
	fetches := srv.HTTP.Fetches()
	res3, err := c.Run(ctx, req)
	if err != nil || !res3.Skipped {
		t.Fatalf("Run with SkipIfHead = %+v, %v; want skipped", res3, err)
	}
	if d := srv.HTTP.Fetches() - fetches; d != 1 {
		t.Errorf("skip path made %d upload-pack requests, want 1 (the ref lookup)", d)
	}
}

func TestRunFetchReportsChangedPaths(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"a/one.yaml": "1\n", "a/two.yaml": "2\n", "b/three.yaml": "3\n"})
	c := newClient(t)
	var got [][]string
	req := Request{
		Remote: httpRemote(srv, "app"), Paths: []string{"a"}, Commit: testAuthor,
		Change: func(ctx context.Context, wt Worktree) (Change, error) {
			got = append(got, wt.ChangedPaths)
			b, err := os.ReadFile(filepath.Join(wt.Dir, "a/two.yaml"))
			if err != nil {
				return Change{}, err
			}
			if len(got) == 2 && string(b) != "22\n" {
				t.Errorf("a/two.yaml after upstream change = %q, want 22", b)
			}
			return Change{Message: "noop"}, nil
		},
	}
	if _, err := c.Run(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	srv.UpstreamCommit(t, "app", gitserver.Change{Files: map[string]string{"a/two.yaml": "22\n", "b/three.yaml": "33\n", "a/new.yaml": "n\n"}, Remove: []string{"a/one.yaml"}})
	if _, err := c.Run(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	want := [][]string{nil, {"a/new.yaml", "a/one.yaml", "a/two.yaml"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ChangedPaths (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(c.dir)); err != nil {
		t.Fatal(err)
	}
}

func TestRunRejectedCredentialIsNotShown(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth("bot", "right-password"), gitserver.WithTLS())
	srv.CreateRepo(t, "app", map[string]string{"a.yaml": "1\n"})
	c := newClient(t)
	r := httpRemote(srv, "app")
	r.Auth.Password = "wrong-password-value"
	_, err := c.Run(t.Context(), Request{Remote: r, Commit: testAuthor, Change: setFile("a.yaml", "2\n", "m")})
	if err == nil {
		t.Fatal("Run with a wrong password succeeded")
	}
	if !errors.Is(err, ErrAuth) {
		t.Errorf("Run error = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrong-password-value") {
		t.Errorf("error shows the password: %v", err)
	}
	for _, want := range []string{"resolving ref", srv.HTTP.URL("app")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// After a force-push to unrelated history, the incremental fetch would
// carry everything; it is cut off and replaced by a shallow fetch.
func TestForcePushFallsBackToShallowFetch(t *testing.T) {
	srv := gitserver.Start(t)
	files := map[string]string{}
	for i := range 40 {
		files[fmt.Sprintf("d/f%02d.yaml", i)] = fmt.Sprintf("v%d\n", i)
	}
	srv.CreateRepo(t, "app", files)
	for i := range 40 {
		files[fmt.Sprintf("d/f%02d.yaml", i)] = fmt.Sprintf("rewritten %d\n", i)
	}
	srv.CreateRepo(t, "rewrite", files)
	for i := range 5 {
		srv.UpstreamCommit(t, "rewrite", gitserver.Change{Files: map[string]string{"d/f00.yaml": fmt.Sprintf("r%d\n", i)}})
	}
	c := newClient(t, WithMaxIncrementalObjects(10))
	var seen string
	req := Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: func(ctx context.Context, wt Worktree) (Change, error) {
		b, err := os.ReadFile(filepath.Join(wt.Dir, "d/f01.yaml"))
		seen = string(b)
		return Change{Message: "m"}, err
	}}
	if _, err := c.Run(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "-C", srv.Path("app"), "fetch", "-q", srv.Path("rewrite"), "+main:main")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("force-push: %v %s", err, out)
	}
	before := len(srv.HTTP.Requests())
	res, err := c.Run(t.Context(), req)
	if err != nil {
		t.Fatalf("Run after a force-push: %v", err)
	}
	if seen != "rewritten 1\n" || res.Head != srv.BranchHead(t, "app", "main") {
		t.Errorf("after a force-push: d/f01.yaml = %q, head %s", seen, res.Head)
	}
	var packs int
	for _, r := range srv.HTTP.Requests()[before:] {
		if r.Service == "git-upload-pack" && !r.Advertisement {
			packs++
		}
	}
	if packs != 2 {
		t.Errorf("fetch requests = %d, want 2 (an incremental fetch cut off, then a shallow one)", packs)
	}
}

// An entry that collected too many packs starts afresh and still works.
func TestCacheEntryStartsAfreshAfterManyPacks(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"a.yaml": "0\n"})
	c := newClient(t, WithMaxPacks(2))
	for i := range 5 {
		up := srv.UpstreamCommit(t, "app", gitserver.Change{Files: map[string]string{"b.yaml": fmt.Sprintf("%d\n", i)}})
		res, err := c.Run(t.Context(), Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: setFile("a.yaml", fmt.Sprintf("%d\n", i+1), "m")})
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if log := srv.Commits(t, "app", "main"); log[0].Hash != res.Commit || log[1].Hash != up {
			t.Fatalf("run %d: main = %s on %s, want %s on %s", i, log[0].Hash, log[1].Hash, res.Commit, up)
		}
	}
	m, _ := filepath.Glob(filepath.Join(c.dir, "*", "repo", "objects", "pack", "*.pack"))
	if len(m) > 3 {
		t.Errorf("cache holds %d packs, want at most 3 with WithMaxPacks(2)", len(m))
	}
}
