package gitpush

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockhand-dev/dockhand/fixtures/forge"
	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/google/go-cmp/cmp"
)

// fakeClock is a settable clock for token expiry.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

func TestGitHubAppPushAndPullRequest(t *testing.T) {
	keyPEM := testRSAKeyPEM(t)
	blk, _ := pem.Decode(keyPEM)
	key, _ := x509.ParsePKCS1PrivateKey(blk.Bytes)
	clock := &fakeClock{t: time.Now()}
	gh := forge.StartGitHub(t, 4242, 77, "acme", &key.PublicKey, "")
	gh.Now = clock.now

	srv := gitserver.Start(t)
	srv.CreateRepo(t, "acme/app", map[string]string{"app.yaml": "v1\n"})
	git := front(t, srv, func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == "x-access-token" && gh.ValidToken(p)
	})
	git.StartTLS()
	defer git.Close()

	secret := map[string][]byte{
		KeyGitHubAppID: []byte("4242"), KeyGitHubAppInstallationOwner: []byte("acme"),
		KeyGitHubAppPrivateKey: keyPEM, KeyGitHubAppBaseURL: []byte(gh.URL()), KeyCACert: certPEM(git.Certificate().Raw),
	}
	a, err := AuthFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	// one HTTP client trusting both test servers' certificates
	c := newClient(t, WithClock(clock.now), WithHTTPClient(trustAll(git, gh.Server)))
	remote := Remote{URL: git.URL + "/acme/app.git", Auth: a}

	res, err := c.Run(t.Context(), Request{Remote: remote, Commit: testAuthor, Push: PushOptions{Branch: "dockhand/auto"}, Change: setFile("app.yaml", "v2\n", "bump")})
	if err != nil {
		t.Fatalf("Run with a GitHub App: %v", err)
	}
	if got := srv.BranchHead(t, "acme/app", "dockhand/auto"); got != res.Commit {
		t.Fatalf("dockhand/auto = %s, want %s", got, res.Commit)
	}
	pr := PullRequest{Provider: ProviderGitHub, Head: "dockhand/auto", Base: "main", Title: "Update images", Body: "one", Labels: []string{"automated"}}
	first, err := c.EnsurePullRequest(t.Context(), remote, pr)
	if err != nil {
		t.Fatalf("EnsurePullRequest: %v", err)
	}
	if !first.Created || first.Number != 1 || !strings.HasSuffix(first.URL, "/acme/app/pull/1") {
		t.Errorf("first EnsurePullRequest = %+v", first)
	}
	pr.Title, pr.Body, pr.Labels = "Update images (2)", "two", []string{"automated", "images"}
	second, err := c.EnsurePullRequest(t.Context(), remote, pr)
	if err != nil || second.Created || second.Number != 1 {
		t.Errorf("second EnsurePullRequest = %+v, %v; want #1 updated", second, err)
	}
	want := []forge.PR{{Number: 1, Head: "dockhand/auto", Base: "main", Title: "Update images (2)", Body: "two", Labels: []string{"automated", "images"}, Open: true}}
	if diff := cmp.Diff(want, gh.PRs("acme/app")); diff != "" {
		t.Errorf("pull requests (-want +got):\n%s", diff)
	}
	if n := gh.TokenCalls(); n != 1 {
		t.Errorf("installation tokens issued = %d, want 1 (cached for git and the API)", n)
	}

	// Near expiry the token is replaced in process; once closed, a new PR opens.
	clock.t = clock.t.Add(56 * time.Minute)
	gh.ClosePR("acme/app", 1)
	third, err := c.EnsurePullRequest(t.Context(), remote, pr)
	if err != nil || !third.Created || third.Number != 2 {
		t.Errorf("EnsurePullRequest after close = %+v, %v; want #2 created", third, err)
	}
	if n := gh.TokenCalls(); n != 2 {
		t.Errorf("installation tokens issued = %d, want 2 after the first neared expiry", n)
	}

	// A wrong app key is refused, and no key material shows.
	other := testRSAKeyPEM(t)
	bad := *a
	app := *a.GitHubApp
	app.PrivateKey = other
	bad.GitHubApp = &app
	_, err = newClient(t, WithHTTPClient(trustAll(git, gh.Server))).EnsurePullRequest(t.Context(), Remote{URL: remote.URL, Auth: &bad}, pr)
	if err == nil || strings.Contains(err.Error(), "PRIVATE KEY") || !strings.Contains(err.Error(), "401") {
		t.Errorf("EnsurePullRequest with a wrong app key: error = %v", err)
	}
}

func TestGitHubTokenPullRequest(t *testing.T) {
	gh := forge.StartGitHub(t, 1, 1, "o", nil, "ghp_static_token")
	c := newClient(t, WithHTTPClient(trustAll(gh.Server)))
	remote := Remote{URL: "https://ghe.example.com/o/r.git", Auth: &Auth{Password: "ghp_static_token"}}
	pr := PullRequest{Provider: ProviderGitHub, APIURL: gh.URL(), Head: "auto", Base: "main", Title: "t"}
	if r, err := c.EnsurePullRequest(t.Context(), remote, pr); err != nil || !r.Created {
		t.Fatalf("EnsurePullRequest = %+v, %v", r, err)
	}
	remote.Auth.Password = "ghp_wrong_value"
	_, err := c.EnsurePullRequest(t.Context(), remote, pr)
	if !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), "ghp_wrong_value") {
		t.Errorf("wrong token: error = %v; want a 401 without the token", err)
	}
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "https://ghe.example.com/o/r.git") {
		t.Errorf("wrong token: error %q should name the status and the remote", err)
	}
}

func TestGitLabMergeRequest(t *testing.T) {
	gl := forge.StartGitLab(t, "glpat-secret")
	c := newClient(t, WithHTTPClient(trustAll(gl.Server)))
	remote := Remote{URL: "https://gitlab.example.com/group/sub/app.git", Auth: &Auth{Password: "glpat-secret"}}
	pr := PullRequest{Provider: ProviderGitLab, APIURL: gl.URL(), Head: "auto", Base: "main", Title: "t1", Body: "b1", Labels: []string{"a"}}
	r1, err := c.EnsurePullRequest(t.Context(), remote, pr)
	if err != nil || !r1.Created || r1.Number != 1 || !strings.Contains(r1.URL, "group/sub/app/-/merge_requests/1") {
		t.Fatalf("create = %+v, %v", r1, err)
	}
	pr.Title, pr.Labels = "t2", []string{"b"}
	if r2, err := c.EnsurePullRequest(t.Context(), remote, pr); err != nil || r2.Created || r2.Number != 1 {
		t.Fatalf("update = %+v, %v", r2, err)
	}
	want := []forge.PR{{Number: 1, Head: "auto", Base: "main", Title: "t2", Body: "b1", Labels: []string{"a", "b"}, Open: true}}
	if diff := cmp.Diff(want, gl.PRs("group/sub/app")); diff != "" {
		t.Errorf("merge requests (-want +got):\n%s", diff)
	}
	remote.Auth.Password = "glpat-wrong"
	if _, err := c.EnsurePullRequest(t.Context(), remote, pr); err == nil || strings.Contains(err.Error(), "glpat-wrong") {
		t.Errorf("wrong token: error = %v", err)
	}
}

func TestGiteaPullRequest(t *testing.T) {
	gt := forge.StartGitea(t, "gitea-token")
	c := newClient(t, WithHTTPClient(trustAll(gt.Server)))
	remote := Remote{URL: "ssh://git@gitea.example.com:2222/org/app.git", Auth: &Auth{BearerToken: "gitea-token"}}
	// other open pull requests fill the first pages
	for _, h := range []string{"x1", "x2", "x3"} {
		if _, err := c.EnsurePullRequest(t.Context(), remote, PullRequest{Provider: ProviderGitea, APIURL: gt.URL(), Head: h, Base: "main", Title: h}); err != nil {
			t.Fatal(err)
		}
	}
	pr := PullRequest{Provider: ProviderGitea, APIURL: gt.URL(), Head: "auto", Base: "main", Title: "t1", Labels: []string{"deps"}}
	r1, err := c.EnsurePullRequest(t.Context(), remote, pr)
	if err != nil || !r1.Created || r1.Number != 4 {
		t.Fatalf("create = %+v, %v", r1, err)
	}
	pr.Title, pr.Labels = "t2", []string{"deps", "images"}
	if r2, err := c.EnsurePullRequest(t.Context(), remote, pr); err != nil || r2.Created || r2.Number != 4 {
		t.Fatalf("update = %+v, %v", r2, err)
	}
	got := gt.PRs("org/app")
	if len(got) != 4 || got[3].Title != "t2" || !cmp.Equal(got[3].Labels, []string{"deps", "images"}) {
		t.Errorf("pull requests = %+v", got)
	}
}

func TestPRTarget(t *testing.T) {
	tests := []struct {
		url, provider, apiURL, wantAPI, wantRepo string
	}{
		{"https://github.com/o/r.git", ProviderGitHub, "", "https://api.github.com", "o/r"},
		{"ssh://git@github.com/o/r.git", ProviderGitHub, "", "https://api.github.com", "o/r"},
		{"git@ghe.corp:o/r.git", ProviderGitHub, "", "https://ghe.corp/api/v3", "o/r"},
		{"https://gitlab.com/g/s/p.git", ProviderGitLab, "", "https://gitlab.com/api/v4", "g/s/p"},
		{"https://codeberg.org/o/r", ProviderGitea, "", "https://codeberg.org/api/v1", "o/r"},
		{"https://x/o/r.git", ProviderGitea, "https://api.x/v1/", "https://api.x/v1", "o/r"},
	}
	for _, tc := range tests {
		api, repo, err := prTarget(Remote{URL: tc.url}, PullRequest{Provider: tc.provider, APIURL: tc.apiURL})
		if err != nil || api != tc.wantAPI || repo != tc.wantRepo {
			t.Errorf("prTarget(%s, %s) = %s, %s, %v; want %s, %s", tc.url, tc.provider, api, repo, err, tc.wantAPI, tc.wantRepo)
		}
	}
	if _, _, err := prTarget(Remote{URL: "https://x/a/b/c"}, PullRequest{Provider: ProviderGitHub}); err == nil {
		t.Error("prTarget with a nested GitHub path: no error")
	}
	if _, _, err := prTarget(Remote{URL: "https://x/a/b"}, PullRequest{Provider: "bitbucket"}); err == nil {
		t.Error("prTarget with an unknown provider: no error")
	}
}

// The forge's REST API is reached with the remote's own TLS and proxy
// settings when no HTTP client is given: certificates are verified
// against Auth.CACert, and an Auth.Proxy is used with its credentials.
func TestPullRequestOverTLSAndProxy(t *testing.T) {
	gt := forge.StartGitea(t, "gitea-token")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: gt.Server.Certificate().Raw})
	c := newClient(t) // no WithHTTPClient: the client is built from Auth
	remote := Remote{URL: "https://gitea.example.com/org/app.git", Auth: &Auth{BearerToken: "gitea-token"}}
	pr := PullRequest{Provider: ProviderGitea, APIURL: gt.URL(), Head: "auto", Base: "main", Title: "t"}

	if _, err := c.EnsurePullRequest(t.Context(), remote, pr); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the forge's CA: error = %v, want a certificate error", err)
	}

	remote.Auth.CACert = caPEM
	if r, err := c.EnsurePullRequest(t.Context(), remote, pr); err != nil || !r.Created {
		t.Fatalf("with the forge's CA: %+v, %v", r, err)
	}

	proxy := startConnectProxy(t, "pxuser", "px-s3cret")
	remote.Auth.Proxy = &Proxy{URL: proxy.URL, Username: "pxuser", Password: "px-s3cret"}
	pr.Title = "through the proxy"
	if r, err := c.EnsurePullRequest(t.Context(), remote, pr); err != nil || r.Created {
		t.Fatalf("through the proxy: %+v, %v; want the pull request updated", r, err)
	}
	if got := proxy.tunnels(); len(got) == 0 || got[0] != gt.Server.Listener.Addr().String() {
		t.Errorf("proxy tunnels = %v, want one to %s", got, gt.Server.Listener.Addr())
	}
	remote.Auth.Proxy.Password = "wrong-px"
	if _, err := c.EnsurePullRequest(t.Context(), remote, pr); err == nil || strings.Contains(err.Error(), "wrong-px") {
		t.Errorf("wrong proxy password: error = %v, want one without the password", err)
	}
}

// connectProxy is a minimal HTTP CONNECT proxy with basic authentication,
// recording the tunnels it opened.
type connectProxy struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func (p *connectProxy) tunnels() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

func startConnectProxy(t *testing.T, user, password string) *connectProxy {
	t.Helper()
	p := &connectProxy{}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		if r.Header.Get("Proxy-Authorization") != want {
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxy"`)
			http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
			return
		}
		upstream, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		p.mu.Lock()
		p.seen = append(p.seen, r.Host)
		p.mu.Unlock()
		hj, ok := w.(http.Hijacker)
		if !ok {
			upstream.Close()
			http.Error(w, "no hijacking", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		conn, buf, err := hj.Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		// Each direction closes both ends when it ends, so the other ends
		// too.
		go func() {
			_, _ = io.Copy(upstream, buf)
			upstream.Close()
			conn.Close()
		}()
		go func() {
			_, _ = io.Copy(conn, upstream)
			upstream.Close()
			conn.Close()
		}()
	}))
	t.Cleanup(p.Server.Close)
	return p
}

// Git over HTTPS goes through Auth.Proxy too: listing, fetch and push are
// tunnelled, and the change lands.
func TestRunThroughConnectProxy(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth("bot", "s3cret-pass"), gitserver.WithTLS())
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	proxy := startConnectProxy(t, "pxuser", "px-s3cret")
	remote := httpRemote(srv, "app")
	remote.Auth.Proxy = &Proxy{URL: proxy.URL, Username: "pxuser", Password: "px-s3cret"}
	c := newClient(t)
	if _, err := c.Run(t.Context(), Request{Remote: remote, Commit: testAuthor, Change: appendLine("app.yaml", "v2", "bump")}); err != nil {
		t.Fatalf("Run through the proxy: %v", err)
	}
	if got := srv.FileAt(t, "app", "main", "app.yaml"); got != "v1\nv2\n" {
		t.Errorf("app.yaml = %q", got)
	}
	host := strings.TrimPrefix(strings.TrimPrefix(srv.HTTP.URL(""), "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	if got := proxy.tunnels(); len(got) < 2 || slices.ContainsFunc(got, func(h string) bool { return h != host }) {
		t.Errorf("proxy tunnels = %v, want every exchange to %s through it", got, host)
	}
	remote.Auth.Proxy.Password = "wrong-px-s3cret"
	_, err := c.Run(t.Context(), Request{Remote: remote, Commit: testAuthor, Change: appendLine("app.yaml", "v3", "bump")})
	if err == nil || strings.Contains(err.Error(), "wrong-px-s3cret") {
		t.Errorf("Run with a wrong proxy password: error = %v, want one without the password", err)
	}
}
