package gitpush

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// A change that fails half way leaves the work tree dirty; the next run
// starts from the clean head, not from the leftovers.
func TestFailedChangeIsUndoneNextRun(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"a.yaml": "a1\n", "b.yaml": "b1\n"})
	c := newClient(t)
	boom := errors.New("updater failed")
	_, err := c.Run(t.Context(), Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: func(ctx context.Context, wt Worktree) (Change, error) {
		os.WriteFile(filepath.Join(wt.Dir, "a.yaml"), []byte("half done\n"), 0o644)
		os.WriteFile(filepath.Join(wt.Dir, "junk.yaml"), []byte("junk\n"), 0o644)
		os.Remove(filepath.Join(wt.Dir, "b.yaml"))
		return Change{}, boom
	}})
	if err == nil || !strings.Contains(err.Error(), "applying change") || !strings.Contains(err.Error(), "updater failed") {
		t.Fatalf("Run error = %v, want the change's error at step applying change", err)
	}
	res, err := c.Run(t.Context(), Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: func(ctx context.Context, wt Worktree) (Change, error) {
		for name, want := range map[string]string{"a.yaml": "a1\n", "b.yaml": "b1\n"} {
			if b, _ := os.ReadFile(filepath.Join(wt.Dir, name)); string(b) != want {
				t.Errorf("%s = %q at the start of the next run, want %q", name, b, want)
			}
		}
		if _, err := os.Stat(filepath.Join(wt.Dir, "junk.yaml")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("junk.yaml survived into the next run")
		}
		return Change{Message: "m"}, nil
	}})
	if err != nil || res.Commit != "" {
		t.Errorf("next Run = %+v, %v; want no commit", res, err)
	}
}

func TestModesAndSymlinksSurvive(t *testing.T) {
	srv := gitserver.Start(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "d"), 0o755)
	os.WriteFile(filepath.Join(src, "d/run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(src, "d/app.yaml"), []byte("v1\n"), 0o644)
	os.Symlink("app.yaml", filepath.Join(src, "d/link.yaml"))
	srv.CreateRepoFS(t, "app", os.DirFS(src))
	c := newClient(t)
	res, err := c.Run(t.Context(), Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: func(ctx context.Context, wt Worktree) (Change, error) {
		if fi, err := os.Lstat(filepath.Join(wt.Dir, "d/link.yaml")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("d/link.yaml is not a symlink: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(wt.Dir, "d/run.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
			t.Errorf("d/run.sh lost its executable bit: %v", err)
		}
		return Change{Message: "m"}, os.WriteFile(filepath.Join(wt.Dir, "d/new.sh"), []byte("#!/bin/sh\n"), 0o755)
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := gitOut(srv.Path("app"), "ls-tree", "-r", res.Commit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"100755 blob", "120000 blob"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls-tree lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "100755 blob 8c2cd1ad1b0b4d5a9d8c36f4b1b4b6ee3ffb1a70\td/new.sh") && !strings.Contains(out, "\td/new.sh") {
		t.Errorf("d/new.sh missing:\n%s", out)
	}
	if _, err := gitOut(srv.Path("app"), "fsck", "--no-dangling"); err != nil {
		t.Errorf("git fsck: %v", err)
	}
}

func TestDiffPathsSparse(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"a/x/1": "1", "a/y/2": "2", "b/3": "3", "top": "t"})
	c := newClient(t)
	if _, err := c.Run(t.Context(), Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: setFile("top", "t", "m")}); err != nil {
		t.Fatal(err)
	}
	from := srv.BranchHead(t, "app", "main")
	to := srv.UpstreamCommit(t, "app", gitserver.Change{Files: map[string]string{"a/x/1": "11", "a/z/4": "4", "b/3": "33", "a/y": "now a file"}, Remove: []string{"a/y/2"}})
	if _, err := c.Run(t.Context(), Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: setFile("top", "t", "m")}); err != nil {
		t.Fatal(err)
	}
	e, err := c.openEntry(cacheKey(srv.HTTP.URL("app"), Checkout{}, nil), srv.HTTP.URL("app"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	ft, _ := e.tree(plumbing.NewHash(from))
	tt, _ := e.tree(plumbing.NewHash(to))
	for _, tc := range []struct {
		sparse []string
		want   []string
	}{
		{nil, []string{"a/x/1", "a/y", "a/y/2", "a/z/4", "b/3"}},
		{[]string{"a/x"}, []string{"a/x/1"}},
		{[]string{"a/y"}, []string{"a/y", "a/y/2"}},
		{[]string{"b", "a/z"}, []string{"a/z/4", "b/3"}},
	} {
		e.st.Sparse = tc.sparse
		got, err := e.diffPaths(t.Context(), ft, tt)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("diffPaths with sparse %v (-want +got):\n%s", tc.sparse, diff)
		}
	}
}

func TestNormSparse(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		err  bool
	}{
		{nil, nil, false},
		{[]string{"./"}, nil, false},
		{[]string{"apps/", "./apps/prod", "/clusters"}, []string{"apps", "clusters"}, false},
		{[]string{"a/../../etc"}, []string{"etc"}, false},
		{[]string{"x/.git/y"}, nil, true},
	} {
		got, err := normSparse(tc.in)
		if (err != nil) != tc.err || !cmp.Equal(tc.want, got) {
			t.Errorf("normSparse(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestPlanPush(t *testing.T) {
	parent := plumbing.NewHash("1111111111111111111111111111111111111111")
	for _, tc := range []struct {
		name     string
		p        PushOptions
		checkout string
		specs    []string
		guarded  bool
		wantErr  string
	}{
		{"checkout branch", PushOptions{}, "main", []string{"+refs/dockhand/out:refs/heads/main"}, true, ""},
		{"push branch", PushOptions{Branch: "auto"}, "main", []string{"+refs/dockhand/out:refs/heads/auto"}, false, ""},
		{"push branch no force", PushOptions{Branch: "auto", NoForce: true}, "main", []string{"refs/dockhand/out:refs/heads/auto"}, false, ""},
		{"refspec", PushOptions{Refspec: "HEAD:refs/for/main"}, "main", []string{"+refs/dockhand/out:refs/heads/main", "refs/dockhand/out:refs/for/main"}, true, ""},
		{"refspec short dst", PushOptions{Branch: "auto", Refspec: "+auto:mirror"}, "main", []string{"+refs/dockhand/out:refs/heads/auto", "+refs/dockhand/out:refs/heads/mirror"}, false, ""},
		{"tag checkout", PushOptions{}, "", nil, false, "push.branch"},
		{"foreign source", PushOptions{Refspec: "refs/heads/other:refs/heads/x"}, "main", nil, false, "source must be"},
		{"wildcard", PushOptions{Refspec: "refs/heads/*:refs/heads/*"}, "main", nil, false, "without wildcards"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := planPush(tc.p, tc.checkout, parent)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("planPush error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range plan.specs {
				got = append(got, s.String())
			}
			if diff := cmp.Diff(tc.specs, got); diff != "" || plan.guarded != tc.guarded {
				t.Errorf("planPush specs (-want +got):\n%s guarded=%v", diff, plan.guarded)
			}
		})
	}
}

// The change callback may replace a directory by a file and the other way
// round; the commit has exactly the new shape.
func TestChangeReplacesDirectoryByFile(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"a/y/2": "2", "a/f": "f", "keep": "k"})
	res, err := newClient(t).Run(t.Context(), Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: func(ctx context.Context, wt Worktree) (Change, error) {
		if err := os.RemoveAll(filepath.Join(wt.Dir, "a/y")); err != nil {
			return Change{}, err
		}
		if err := os.WriteFile(filepath.Join(wt.Dir, "a/y"), []byte("file now"), 0o644); err != nil {
			return Change{}, err
		}
		if err := os.Remove(filepath.Join(wt.Dir, "a/f")); err != nil {
			return Change{}, err
		}
		return setFile("a/f/inner", "dir now", "reshape")(ctx, wt)
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := gitOut(srv.Path("app"), "ls-tree", "-r", "--name-only", res.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("a/f/inner\na/y\nkeep\n", out); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if _, err := gitOut(srv.Path("app"), "fsck", "--no-dangling"); err != nil {
		t.Errorf("git fsck: %v", err)
	}
}

func TestChangeListsItsFiles(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"d/a.yaml": "a\n", "d/b.yaml": "b\n", "other/c": "c\n"})
	c := newClient(t)
	req := Request{Remote: httpRemote(srv, "app"), Paths: []string{"d"}, Commit: testAuthor, Change: func(ctx context.Context, wt Worktree) (Change, error) {
		os.WriteFile(filepath.Join(wt.Dir, "d/a.yaml"), []byte("a2\n"), 0o644)
		os.Remove(filepath.Join(wt.Dir, "d/b.yaml"))
		os.WriteFile(filepath.Join(wt.Dir, "d/new.yaml"), []byte("n\n"), 0o644)
		return Change{Message: "listed", Files: []string{"d/a.yaml", "d/b.yaml", "./d/new.yaml", "d/a.yaml"}}, nil
	}}
	res, err := c.Run(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := gitOut(srv.Path("app"), "ls-tree", "-r", "--name-only", res.Commit)
	if diff := cmp.Diff("d/a.yaml\nd/new.yaml\nother/c\n", out); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	req.Change = func(ctx context.Context, wt Worktree) (Change, error) {
		return Change{Message: "x", Files: []string{"other/c"}}, nil
	}
	if _, err := c.Run(t.Context(), req); err == nil || !strings.Contains(err.Error(), "outside the checked-out paths") {
		t.Errorf("listing a file outside the paths: error = %v", err)
	}
	req.Change = func(ctx context.Context, wt Worktree) (Change, error) {
		return Change{Message: "x", Files: []string{}}, nil
	}
	if res, err := c.Run(t.Context(), req); err != nil || res.Commit != "" {
		t.Errorf("empty Files: %+v, %v; want no commit", res, err)
	}
}

func FuzzNormSparse(f *testing.F) {
	f.Add("apps/prod")
	f.Add("./a/../b/")
	f.Add("/.git")
	f.Fuzz(func(t *testing.T, p string) {
		got, err := normSparse([]string{p})
		if err != nil {
			return
		}
		for _, g := range got {
			if g == "" || strings.HasPrefix(g, "/") || strings.HasPrefix(g, "../") || g == ".." || strings.Contains(g, "/../") {
				t.Fatalf("normSparse(%q) = %q escapes the work tree", p, got)
			}
		}
	})
}

func FuzzPlanPush(f *testing.F) {
	f.Add("auto", "HEAD:refs/for/main")
	f.Add("", "+main:refs/heads/x")
	f.Fuzz(func(t *testing.T, branch, refspec string) {
		plan, err := planPush(PushOptions{Branch: branch, Refspec: refspec}, "main", plumbing.ZeroHash)
		if err != nil {
			return
		}
		for _, s := range plan.specs {
			if s.Src() != outRef.String() || !strings.HasPrefix(s.Dst(plumbing.ReferenceName(s.Src())).String(), "refs/") {
				t.Fatalf("planPush(%q, %q) made refspec %s", branch, refspec, s)
			}
		}
	})
}
