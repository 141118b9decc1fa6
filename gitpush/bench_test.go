package gitpush

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// The benchmark repository: 10k manifests, 1k commits, served over HTTP by
// the fixtures git server. Every run changes file 0 and pushes to main.
var benchSpec = gitserver.LargeRepo{Files: 10000, Commits: 1000}

// benchChange appends a line to file 0; with list it names the file it
// wrote, as the engine does with the updater's result.
func benchChange(n *int, list bool) ChangeFunc {
	return func(ctx context.Context, wt Worktree) (Change, error) {
		*n++
		p := filepath.Join(wt.Dir, filepath.FromSlash(gitserver.LargeRepoPath(0)))
		b, err := os.ReadFile(p)
		if err != nil {
			return Change{}, err
		}
		b = append(b, fmt.Sprintf("# run %d\n", *n)...)
		ch := Change{Message: fmt.Sprintf("run %d", *n)}
		if list {
			ch.Files = []string{gitserver.LargeRepoPath(0)}
		}
		return ch, os.WriteFile(p, b, 0o644)
	}
}

// upstream simulates another contributor changing a file inside apps/g000.
func upstream(b *testing.B, srv *gitserver.Server, k int) {
	b.Helper()
	path := gitserver.LargeRepoPath(1 + k%99)
	srv.UpstreamCommit(b, "big", gitserver.Change{Files: map[string]string{path: fmt.Sprintf("upstream %d\n", k)}})
}

func BenchmarkRun(b *testing.B) {
	srv := gitserver.Start(b)
	srv.CreateLargeRepo(b, "big", benchSpec)
	url := srv.HTTP.URL("big")
	remote := Remote{URL: url}
	seq := 0
	k := 0

	// What Flux does on every run: a fresh shallow clone with a full
	// checkout, then commit and push with go-git.
	b.Run("baseline=shallow-clone", func(b *testing.B) {
		for b.Loop() {
			dir := b.TempDir()
			repo, err := git.PlainCloneContext(b.Context(), dir, false, &git.CloneOptions{
				URL: url, Depth: 1, SingleBranch: true, ReferenceName: plumbing.NewBranchReferenceName("main"), Tags: git.NoTags,
			})
			if err != nil {
				b.Fatal(err)
			}
			wt, _ := repo.Worktree()
			seq++
			p := gitserver.LargeRepoPath(0)
			if err := os.WriteFile(filepath.Join(dir, p), fmt.Appendf(nil, "baseline %d\n", seq), 0o644); err != nil {
				b.Fatal(err)
			}
			if _, err := wt.Add(p); err != nil {
				b.Fatal(err)
			}
			if _, err := wt.Commit("baseline", &git.CommitOptions{Author: &object.Signature{Name: "b", Email: "b@b"}}); err != nil {
				b.Fatal(err)
			}
			if err := repo.PushContext(b.Context(), &git.PushOptions{RefSpecs: []config.RefSpec{"refs/heads/main:refs/heads/main"}}); err != nil {
				b.Fatal(err)
			}
			os.RemoveAll(dir)
		}
	})

	for _, v := range []struct {
		name  string
		paths []string
		list  bool
	}{{"full", nil, true}, {"full-scan", nil, false}, {"sparse", []string{"apps/g000"}, true}} {
		req := Request{Remote: remote, Paths: v.paths, Commit: testAuthor, Change: benchChange(&seq, v.list)}

		b.Run("cold/"+v.name, func(b *testing.B) {
			if v.name == "full-scan" {
				b.Skip("same as cold/full but for the final scan")
			}
			for b.Loop() {
				c, err := New(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Run(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})

		b.Run("warm-unchanged/"+v.name, func(b *testing.B) {
			if v.name == "full-scan" {
				b.Skip("the skip path never reaches the change")
			}
			c, _ := New(b.TempDir())
			res, err := c.Run(b.Context(), req)
			if err != nil {
				b.Fatal(err)
			}
			skip := req
			skip.SkipIfHead = res.Commit
			for b.Loop() {
				r, err := c.Run(b.Context(), skip)
				if err != nil || !r.Skipped {
					b.Fatalf("Run = %+v, %v; want skipped", r, err)
				}
			}
		})

		b.Run("warm-upstream-commit/"+v.name, func(b *testing.B) {
			c, _ := New(b.TempDir())
			if _, err := c.Run(b.Context(), req); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				k++
				upstream(b, srv, k)
				b.StartTimer()
				r, err := c.Run(b.Context(), req)
				if err != nil || r.Commit == "" {
					b.Fatalf("Run = %+v, %v", r, err)
				}
			}
		})
	}
}
