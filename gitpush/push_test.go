package gitpush

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
)

func TestPushBranchIsRebuiltFromCheckoutBranch(t *testing.T) {
	srv := gitserver.Start(t)
	seed := srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	c := newClient(t)
	req := Request{
		Remote: httpRemote(srv, "app"), Checkout: Checkout{Branch: "main"}, Commit: testAuthor,
		Push:   PushOptions{Branch: "auto", Refspec: "+refs/heads/auto:refs/heads/mirror", Options: map[string]string{"ci.skip": ""}},
		Change: setFile("app.yaml", "v2\n", "bump"),
	}
	res, err := c.Run(t.Context(), req)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []string{"refs/heads/auto", "refs/heads/mirror"}; !slices.Equal(res.Pushed, want) {
		t.Errorf("Pushed = %v, want %v", res.Pushed, want)
	}
	if got := srv.BranchHead(t, "app", "main"); got != seed {
		t.Errorf("main moved to %s; a push branch must leave it alone", got)
	}
	for _, b := range []string{"auto", "mirror"} {
		if got := srv.BranchHead(t, "app", b); got != res.Commit {
			t.Errorf("%s = %s, want %s", b, got, res.Commit)
		}
	}

	// No change upstream, same change: the push branch already holds it.
	pushes := srv.HTTP.Pushes()
	res2, err := c.Run(t.Context(), req)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if res2.Commit != res.Commit || len(res2.Pushed) != 0 || srv.HTTP.Pushes() != pushes {
		t.Errorf("second Run = %+v with %d pushes; want the existing commit %s and no push", res2, srv.HTTP.Pushes()-pushes, res.Commit)
	}

	// Upstream moves: the push branch is rebuilt on the new main (forced).
	up := srv.UpstreamCommit(t, "app", gitserver.Change{Files: map[string]string{"README": "hi\n"}})
	res3, err := c.Run(t.Context(), req)
	if err != nil {
		t.Fatalf("third Run: %v", err)
	}
	log := srv.Commits(t, "app", "auto")
	if log[0].Hash != res3.Commit || log[0].Parents[0] != up {
		t.Errorf("auto = %s with parent %v, want %s on %s", log[0].Hash, log[0].Parents, res3.Commit, up)
	}

	// Someone else commits on the push branch; with NoForce it is left alone.
	other := srv.UpstreamCommit(t, "app", gitserver.Change{Branch: "auto", Files: map[string]string{"x": "y\n"}})
	srv.UpstreamCommit(t, "app", gitserver.Change{Files: map[string]string{"README": "hi again\n"}})
	req.Push = PushOptions{Branch: "auto", NoForce: true}
	_, err = c.Run(t.Context(), req)
	if !errors.Is(err, ErrPushRejected) {
		t.Errorf("NoForce Run error = %v, want ErrPushRejected", err)
	}
	if got := srv.BranchHead(t, "app", "auto"); got != other {
		t.Errorf("auto = %s after a refused push, want %s", got, other)
	}
}

func TestPushFromTagNeedsPushBranch(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	c := newClient(t)
	_, err := c.Run(t.Context(), Request{
		Remote: httpRemote(srv, "app"), Checkout: Checkout{Commit: srv.BranchHead(t, "app", "main")}, Commit: testAuthor,
		Change: setFile("app.yaml", "v2\n", "bump"),
	})
	if err == nil || !strings.Contains(err.Error(), "push.branch") {
		t.Errorf("Run on a commit without push.branch: error = %v, want one naming push.branch", err)
	}
	res, err := c.Run(t.Context(), Request{
		Remote: httpRemote(srv, "app"), Checkout: Checkout{Commit: srv.BranchHead(t, "app", "main")}, Commit: testAuthor,
		Push: PushOptions{Branch: "from-commit"}, Change: setFile("app.yaml", "v2\n", "bump"),
	})
	if err != nil || srv.BranchHead(t, "app", "from-commit") != res.Commit {
		t.Errorf("Run on a commit with push.branch = %+v, %v", res, err)
	}
}

// Many automations, each with its own cache entry and file, push to one
// branch at once: every change lands, none is lost.
func TestConcurrentAutomationsAllLand(t *testing.T) {
	srv := gitserver.Start(t)
	files := map[string]string{}
	const n = 6
	for i := range n {
		files[fmt.Sprintf("app%d/app.yaml", i)] = "v1\n"
	}
	seed := srv.CreateRepo(t, "app", files)
	c := newClient(t, WithRetryBackoff(10*time.Millisecond, 200*time.Millisecond), WithMaxAttempts(3*n))
	var wg sync.WaitGroup
	errs := make([]error, n)
	attempts := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fmt.Sprintf("app%d", i)
			res, err := c.Run(t.Context(), Request{
				Remote: httpRemote(srv, "app"), Paths: []string{p}, Commit: testAuthor,
				Change: setFile(p+"/app.yaml", "v2\n", "bump "+p),
			})
			errs[i], attempts[i] = err, res.Attempts
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("automation %d: %v", i, err)
		}
	}
	for i := range n {
		if got := srv.FileAt(t, "app", "main", fmt.Sprintf("app%d/app.yaml", i)); got != "v2\n" {
			t.Errorf("app%d/app.yaml = %q, want v2", i, got)
		}
	}
	log := srv.Commits(t, "app", "main")
	if len(log) != n+1 || log[n].Hash != seed {
		t.Errorf("main has %d commits, want %d in a line on the seed", len(log), n+1)
	}
	t.Logf("attempts per automation: %v", attempts)
}

// The change callback runs again on the new head after a rejected push.
func TestRejectedPushReappliesChange(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n", "other.yaml": "o1\n"})
	c := newClient(t, WithRetryBackoff(0, 0))
	var heads []string
	var up string
	res, err := c.Run(t.Context(), Request{
		Remote: httpRemote(srv, "app"), Commit: testAuthor,
		Change: func(ctx context.Context, wt Worktree) (Change, error) {
			heads = append(heads, wt.Head)
			if wt.Attempt == 1 { // someone pushes while we work
				up = srv.UpstreamCommit(t, "app", gitserver.Change{Files: map[string]string{"other.yaml": "o2\n"}})
			}
			b, _ := os.ReadFile(filepath.Join(wt.Dir, "app.yaml"))
			return Change{Message: "bump"}, os.WriteFile(filepath.Join(wt.Dir, "app.yaml"), append(b, "v2\n"...), 0o644)
		},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Attempts != 2 || len(heads) != 2 || heads[1] != up {
		t.Fatalf("Run = %+v, heads %v; want a second attempt on %s", res, heads, up)
	}
	if got := srv.FileAt(t, "app", "main", "app.yaml"); got != "v1\nv2\n" {
		t.Errorf("app.yaml = %q: the change must be applied once, on the new head", got)
	}
	if got := srv.FileAt(t, "app", "main", "other.yaml"); got != "o2\n" {
		t.Errorf("other.yaml = %q: the upstream change was lost", got)
	}
	// The first attempt's push was stopped by the client (the remote
	// branch was no longer its parent) and never reached the server.
	pushes, err := srv.PushLog("app")
	if err != nil {
		t.Fatal(err)
	}
	want := []gitserver.RefUpdate{{Ref: "refs/heads/main", Old: up, New: res.Commit}}
	if len(pushes) != 1 || !slices.Equal(pushes[0].Updates, want) {
		t.Errorf("pushes received = %+v, want one updating main from %s to %s", pushes, up, res.Commit)
	}
}

func TestPushOptionsReachTheServer(t *testing.T) {
	srv := gitserver.Start(t)
	seed := srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	res, err := newClient(t).Run(t.Context(), Request{
		Remote: httpRemote(srv, "app"), Commit: testAuthor,
		Push:   PushOptions{Options: map[string]string{"ci.skip": "", "merge_request.title": "images"}},
		Change: setFile("app.yaml", "v2\n", "m"),
	})
	if err != nil {
		t.Fatal(err)
	}
	pushes, err := srv.PushLog("app")
	if err != nil {
		t.Fatal(err)
	}
	if len(pushes) != 1 {
		t.Fatalf("the server received %d pushes, want 1: %+v", len(pushes), pushes)
	}
	// Options come from a map: their order is not specified.
	options := slices.Sorted(slices.Values(pushes[0].Options))
	if want := []string{"ci.skip=", "merge_request.title=images"}; !slices.Equal(options, want) {
		t.Errorf("push options = %q, want %q", options, want)
	}
	if want := []gitserver.RefUpdate{{Ref: "refs/heads/main", Old: seed, New: res.Commit}}; !slices.Equal(pushes[0].Updates, want) {
		t.Errorf("ref updates = %+v, want %+v", pushes[0].Updates, want)
	}
}

func TestRemoteMessagesSummary(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{name: "nothing", want: ""},
		{name: "one line", writes: []string{"main is protected\n"}, want: "main is protected"},
		{
			name:   "progress counters are left out",
			writes: []string{"Resolving deltas:  50% (1/2)\rResolving deltas: 100% (2/2)\n", "error: refusing: image tag must be pinned\n"},
			want:   "error: refusing: image tag must be pinned",
		},
		{name: "lines split across writes", writes: []string{"size lim", "it exceeded\nsee docs\n"}, want: "size limit exceeded / see docs"},
		{name: "repeated lines once", writes: []string{"denied\ndenied\n"}, want: "denied"},
		{name: "control characters dropped", writes: []string{"\x1b[31mred\x1b[0m\n"}, want: "[31mred[0m"},
		{name: "remote prefix trimmed", writes: []string{"remote: GH006: Protected branch update failed\n"}, want: "GH006: Protected branch update failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &remoteMessages{}
			for _, w := range tt.writes {
				if n, err := m.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := m.summary(); got != tt.want {
				t.Errorf("summary() = %q, want %q", got, tt.want)
			}
		})
	}
	m := &remoteMessages{}
	for range 1000 {
		m.Write([]byte("a long explanation of why the push was refused\n"))
		m.Write([]byte(strings.Repeat("x", 100) + "\n"))
	}
	if got := m.summary(); len(got) > maxRemoteMessages+8 || !strings.HasSuffix(got, " …") {
		t.Errorf("summary of a flood: %d bytes, ending %q; want at most the bound and a mark", len(got), got[max(0, len(got)-10):])
	}
}
