package gitpush

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/google/go-cmp/cmp"
)

// appendLine returns a ChangeFunc that appends line to path, so a change
// applied twice shows.
func appendLine(path, line, msg string) ChangeFunc {
	return func(ctx context.Context, wt Worktree) (Change, error) {
		full := filepath.Join(wt.Dir, filepath.FromSlash(path))
		b, err := os.ReadFile(full)
		if err != nil {
			return Change{}, err
		}
		return Change{Message: msg}, os.WriteFile(full, append(b, line+"\n"...), 0o644)
	}
}

// pushLog is the server's PushLog for tests.
func pushLog(t *testing.T, srv *gitserver.Server, name string) []gitserver.Push {
	t.Helper()
	pushes, err := srv.PushLog(name)
	if err != nil {
		t.Fatal(err)
	}
	return pushes
}

// checkCache runs git fsck on every repository of c's cache.
func checkCache(t *testing.T, c *Client) {
	t.Helper()
	repos, _ := filepath.Glob(filepath.Join(c.dir, "*", "repo"))
	if len(repos) == 0 {
		t.Fatal("no cache entry")
	}
	for _, r := range repos {
		if out, err := gitOut(r, "fsck", "--no-dangling"); err != nil {
			t.Errorf("git fsck of the cache entry %s: %v\n%s", r, err, out)
		}
	}
}

// A protected branch refuses the push: the run fails once (no retries)
// with ErrPushRejected, the branch stays, and once the protection is lifted
// the same cache entry pushes the change, applied once.
func TestProtectedBranchRefusesPush(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth("bot", "s3cret-pass"), gitserver.WithTLS())
	seed := srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	if err := srv.RefusePushes("app", gitserver.Refusal{Ref: "main", Message: "main is protected: open a pull request"}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, WithRetryBackoff(0, 0))
	req := Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: appendLine("app.yaml", "v2", "bump")}

	res, err := c.Run(t.Context(), req)
	if !errors.Is(err, ErrPushRejected) || errors.Is(err, ErrRemoteMoved) {
		t.Fatalf("Run to a protected branch: error %v, want ErrPushRejected and not ErrRemoteMoved", err)
	}
	for _, want := range []string{"pushing", srv.HTTP.URL("app"), "refs/heads/main", "pre-receive hook declined",
		"the remote said: main is protected: open a pull request"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	t.Logf("error: %v", err)
	if res.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1: a refusal is not retried", res.Attempts)
	}
	if got := srv.BranchHead(t, "app", "main"); got != seed {
		t.Errorf("main = %s after a refused push, want %s", got, seed)
	}
	pushes := pushLog(t, srv, "app")
	if len(pushes) != 1 || !pushes[0].Refused || len(pushes[0].Updates) != 1 ||
		pushes[0].Updates[0].Ref != "refs/heads/main" || pushes[0].Updates[0].Old != seed {
		t.Errorf("PushLog = %+v, want one refused update of main from %s", pushes, seed)
	}

	// An automation pushing to its own branch is not affected.
	auto := req
	auto.Push = PushOptions{Branch: "auto"}
	if res, err := c.Run(t.Context(), auto); err != nil || srv.BranchHead(t, "app", "auto") != res.Commit {
		t.Errorf("Run to a push branch beside a protected one = %+v, %v", res, err)
	}

	if err := srv.AllowPushes("app"); err != nil {
		t.Fatal(err)
	}
	res, err = c.Run(t.Context(), req)
	if err != nil {
		t.Fatalf("Run after the protection is lifted: %v", err)
	}
	log := srv.Commits(t, "app", "main")
	if len(log) != 2 || log[0].Hash != res.Commit || log[1].Hash != seed {
		t.Errorf("main = %+v, want %s on the seed", log, res.Commit)
	}
	if got := srv.FileAt(t, "app", "main", "app.yaml"); got != "v1\nv2\n" {
		t.Errorf("app.yaml = %q, want the change applied once on the seed", got)
	}
	checkCache(t, c)
}

// A server that never answers makes the run fail when its context ends,
// with the context's error, and lets go of the connection.
func TestHangingServerFailsAtDeadline(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	f := srv.HTTP.InjectFault(gitserver.Fault{Repo: "app", Hang: true})
	t.Cleanup(f.Release)
	c := newClient(t)
	req := Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: appendLine("app.yaml", "v2", "bump")}

	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run against a hanging server: error %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "resolving ref") || !strings.Contains(err.Error(), srv.HTTP.URL("app")) {
		t.Errorf("error %q does not name the step and the remote", err)
	}
	t.Logf("error: %v", err)
	// The request reached the server (unless the deadline came first): the
	// client must have dropped it rather than leave it open.
	if f.Hits() > 0 {
		if err := f.WaitAbandoned(t.Context(), 1); err != nil {
			t.Errorf("the held request was never abandoned: %v", err)
		}
	}

	f.Release()
	if _, err := c.Run(t.Context(), req); err != nil {
		t.Fatalf("Run once the server answers again: %v", err)
	}
	if got := srv.FileAt(t, "app", "main", "app.yaml"); got != "v1\nv2\n" {
		t.Errorf("app.yaml = %q", got)
	}
}

// Remote.Timeout bounds each exchange with the remote on its own, without
// a deadline on the run: a hanging push fails with an error that names
// the timeout, and nothing lands.
func TestRemoteTimeoutBoundsEachExchange(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	f := srv.HTTP.InjectFault(gitserver.Fault{Repo: "app", Service: "git-receive-pack", Method: http.MethodPost, Hang: true})
	t.Cleanup(f.Release)
	c := newClient(t)
	remote := httpRemote(srv, "app")
	// Long enough for a listing or a fetch on a loaded machine; a push
	// that hangs never ends within it.
	remote.Timeout = 10 * time.Second
	req := Request{Remote: remote, Commit: testAuthor, Change: appendLine("app.yaml", "v2", "bump")}

	_, err := c.Run(t.Context(), req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run with a hanging push: error %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "pushing") || !strings.Contains(err.Error(), "timeout of 10s") {
		t.Errorf("error %q does not name the step and the timeout", err)
	}
	if err := f.WaitAbandoned(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if got := srv.FileAt(t, "app", "main", "app.yaml"); got != "v1\n" {
		t.Errorf("app.yaml on the remote = %q, want it unchanged", got)
	}
	f.Release()
	if _, err := c.Run(t.Context(), req); err != nil {
		t.Fatalf("Run once the server answers again: %v", err)
	}
	if got := srv.FileAt(t, "app", "main", "app.yaml"); got != "v1\nv2\n" {
		t.Errorf("app.yaml = %q", got)
	}
}

// A push that hangs is abandoned when the run's context ends; nothing
// lands, and the next run pushes the change once.
func TestHangingPushIsCancelled(t *testing.T) {
	srv := gitserver.Start(t)
	seed := srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	f := srv.HTTP.InjectFault(gitserver.Fault{Repo: "app", Service: "git-receive-pack", Method: http.MethodPost, Hang: true})
	t.Cleanup(f.Release)
	c := newClient(t)
	req := Request{Remote: httpRemote(srv, "app"), Commit: testAuthor, Change: appendLine("app.yaml", "v2", "bump")}

	// The context ends once the push is held, rather than at a deadline
	// that could come while the run is still fetching.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		if f.WaitHits(ctx, 1) == nil {
			cancel()
		}
	}()
	_, err := c.Run(ctx, req)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "pushing") {
		t.Fatalf("Run with a hanging push: error %v, want context.Canceled at step pushing", err)
	}
	if err := f.WaitAbandoned(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if got := srv.BranchHead(t, "app", "main"); got != seed {
		t.Errorf("main = %s after an abandoned push, want %s", got, seed)
	}

	f.Release()
	res, err := c.Run(t.Context(), req)
	if err != nil {
		t.Fatalf("Run after the hang: %v", err)
	}
	if log := srv.Commits(t, "app", "main"); len(log) != 2 || log[0].Hash != res.Commit {
		t.Errorf("main = %+v, want one new commit %s", log, res.Commit)
	}
	if got := srv.FileAt(t, "app", "main", "app.yaml"); got != "v1\nv2\n" {
		t.Errorf("app.yaml = %q, want the change applied once", got)
	}
	checkCache(t, c)
}

// Server errors are reported with their status and the step, and never
// show a credential, even when the server's answer echoes it.
func TestServerErrorsHideCredentials(t *testing.T) {
	const password, token = "basic-pass-4711", "bearer-tok-0815"
	tests := []struct {
		name     string
		auth     func(*Auth)
		fault    gitserver.Fault
		wantStep string
		wantText string
		wantErr  error
	}{
		{
			name:     "500 on the ref listing",
			fault:    gitserver.Fault{Service: "git-upload-pack", Method: http.MethodGet, Status: http.StatusInternalServerError, Message: "boom for bot:" + password},
			wantStep: "resolving ref", wantText: "500",
		},
		{
			name:     "500 on fetch",
			fault:    gitserver.Fault{Service: "git-upload-pack", Method: http.MethodPost, Status: http.StatusInternalServerError, Message: "boom for bot:" + password},
			wantStep: "fetching", wantText: "500",
		},
		{
			name:     "500 on push",
			fault:    gitserver.Fault{Service: "git-receive-pack", Status: http.StatusInternalServerError, Message: "boom for bot:" + password},
			wantStep: "pushing", wantText: "500",
		},
		{
			name:     "500 on push with a token",
			auth:     func(a *Auth) { a.Username, a.Password, a.BearerToken = "", "", token },
			fault:    gitserver.Fault{Service: "git-receive-pack", Status: http.StatusInternalServerError, Message: "boom for Bearer " + token},
			wantStep: "pushing", wantText: "500",
		},
		{
			name:     "401 echoing the password",
			fault:    gitserver.Fault{Status: http.StatusUnauthorized, Message: "bad credentials bot:" + password},
			wantStep: "resolving ref", wantErr: ErrAuth,
		},
		{
			name:     "401 echoing the token",
			auth:     func(a *Auth) { a.Username, a.Password, a.BearerToken = "", "", token },
			fault:    gitserver.Fault{Status: http.StatusUnauthorized, Message: "bad credentials Bearer " + token},
			wantStep: "resolving ref", wantErr: ErrAuth,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Without basic auth the server takes any credentials; the
			// faults answer before it looks.
			opts := []gitserver.Option{gitserver.WithTLS()}
			if tc.auth == nil {
				opts = append(opts, gitserver.WithBasicAuth("bot", password))
			}
			srv := gitserver.Start(t, opts...)
			seed := srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
			remote := httpRemote(srv, "app")
			if tc.auth != nil {
				tc.auth(remote.Auth)
			}
			f := srv.HTTP.InjectFault(tc.fault)
			c := newClient(t)
			req := Request{Remote: remote, Commit: testAuthor, Change: appendLine("app.yaml", "v2", "bump")}

			_, err := c.Run(t.Context(), req)
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			t.Logf("error: %v", err)
			if f.Hits() == 0 {
				t.Fatal("the fault never applied")
			}
			msg := err.Error()
			for _, secret := range []string{password, token} {
				if strings.Contains(msg, secret) {
					t.Errorf("error shows a credential: %v", err)
				}
			}
			for _, want := range []string{tc.wantStep, srv.HTTP.URL("app"), tc.wantText} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if errors.Is(err, ErrPushRejected) || errors.Is(err, ErrRemoteMoved) {
				t.Errorf("error %v is classified as a rejected push; the server failed", err)
			}
			if got := srv.BranchHead(t, "app", "main"); got != seed {
				t.Errorf("main = %s after a failed run, want %s", got, seed)
			}

			f.Remove()
			if _, err := c.Run(t.Context(), req); err != nil {
				t.Fatalf("Run once the server recovers: %v", err)
			}
			if got := srv.FileAt(t, "app", "main", "app.yaml"); got != "v1\nv2\n" {
				t.Errorf("app.yaml = %q, want the change applied once", got)
			}
		})
	}
}

// The push the server received is the one the client meant: the branch
// and refspec updates from their old values, with the push options.
func TestServerRecordsPushBranchAndRefspec(t *testing.T) {
	srv := gitserver.Start(t)
	seed := srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	c := newClient(t)
	req := Request{
		Remote: httpRemote(srv, "app"), Commit: testAuthor,
		Push:   PushOptions{Branch: "auto", Refspec: "+HEAD:refs/heads/mirror", Options: map[string]string{"topic": "images"}},
		Change: appendLine("app.yaml", "v2", "bump"),
	}
	first, err := c.Run(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	up := srv.UpstreamCommit(t, "app", gitserver.Change{Files: map[string]string{"README": "hi\n"}})
	second, err := c.Run(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if log := srv.Commits(t, "app", "auto"); log[0].Hash != second.Commit || log[1].Hash != up {
		t.Errorf("auto = %s on %s, want %s on %s", log[0].Hash, log[1].Hash, second.Commit, up)
	}
	want := []gitserver.Push{
		{
			Updates: []gitserver.RefUpdate{
				{Ref: "refs/heads/auto", Old: gitserver.ZeroHash, New: first.Commit},
				{Ref: "refs/heads/mirror", Old: gitserver.ZeroHash, New: first.Commit},
			},
			Options: []string{"topic=images"},
		},
		{
			// Rebuilt on the new main: the push branch is forced.
			Updates: []gitserver.RefUpdate{
				{Ref: "refs/heads/auto", Old: first.Commit, New: second.Commit},
				{Ref: "refs/heads/mirror", Old: first.Commit, New: second.Commit},
			},
			Options: []string{"topic=images"},
		},
	}
	if diff := cmp.Diff(want, pushLog(t, srv, "app")); diff != "" {
		t.Errorf("PushLog (-want +got):\n%s", diff)
	}
	if got := srv.BranchHead(t, "app", "main"); got != up || first.Head != seed {
		t.Errorf("main = %s, want the upstream commit %s untouched", got, up)
	}
}
