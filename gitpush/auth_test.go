package gitpush

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/dockhand-dev/dockhand/fixtures/pki"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func TestSSHAuth(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithSSH())
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	encrypted, err := srv.SSH.UserKeyPEMWithPassphrase("key-passphrase-xyz")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherPub, _ := ssh.NewPublicKey(&other.PublicKey)
	wrongHosts := strings.Fields(srv.SSH.KnownHosts())[0] + " " + string(ssh.MarshalAuthorizedKey(otherPub))
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edPub, _ := ssh.NewPublicKey(edPriv.Public())
	wrongEd := strings.Fields(srv.SSH.KnownHosts())[0] + " " + string(ssh.MarshalAuthorizedKey(edPub))

	tests := []struct {
		name    string
		auth    *Auth
		wantErr error
		hidden  string
	}{
		{name: "key", auth: &Auth{Identity: srv.SSH.UserKeyPEM(), KnownHosts: []byte(srv.SSH.KnownHosts())}},
		{name: "key with passphrase", auth: &Auth{Identity: encrypted, Password: "key-passphrase-xyz", KnownHosts: []byte(srv.SSH.KnownHosts())}},
		{name: "wrong passphrase", auth: &Auth{Identity: encrypted, Password: "not-the-passphrase", KnownHosts: []byte(srv.SSH.KnownHosts())}, wantErr: errAny, hidden: "not-the-passphrase"},
		{name: "no known_hosts", auth: &Auth{Identity: srv.SSH.UserKeyPEM()}, wantErr: ErrNoKnownHosts},
		{name: "unknown host key type", auth: &Auth{Identity: srv.SSH.UserKeyPEM(), KnownHosts: []byte(wrongHosts)}, wantErr: errAny},
		{name: "host key mismatch", auth: &Auth{Identity: srv.SSH.UserKeyPEM(), KnownHosts: []byte(wrongEd)}, wantErr: errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			res, err := c.Run(t.Context(), Request{
				Remote: Remote{URL: srv.SSH.URL("app"), Auth: tc.auth}, Commit: testAuthor,
				Push:   PushOptions{Branch: "ssh-" + strings.ReplaceAll(tc.name, " ", "-")},
				Change: setFile("app.yaml", "v2\n", "over ssh"),
			})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if got := srv.BranchHead(t, "app", "ssh-"+strings.ReplaceAll(tc.name, " ", "-")); got != res.Commit {
					t.Errorf("pushed branch = %s, want %s", got, res.Commit)
				}
				return
			}
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			if tc.wantErr != errAny && !errors.Is(err, tc.wantErr) {
				t.Errorf("Run error = %v, want %v", err, tc.wantErr)
			}
			t.Logf("error: %v", err)
			if tc.hidden != "" && strings.Contains(err.Error(), tc.hidden) {
				t.Errorf("error shows a secret: %v", err)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error shows key material: %v", err)
			}
		})
	}
}

var errAny = errors.New("any error")

// front serves srv's repositories through h, an extra layer that checks a
// credential the fixture does not know.
func front(t *testing.T, srv *gitserver.Server, check func(r *http.Request) bool) *httptest.Server {
	return httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !check(r) {
			http.Error(w, "denied", http.StatusUnauthorized)
			return
		}
		srv.HTTP.ServeHTTP(w, r)
	}))
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestBearerToken(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	fs := front(t, srv, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer tok-123456" })
	fs.StartTLS()
	defer fs.Close()
	ca := certPEM(fs.Certificate().Raw)
	c := newClient(t)
	for _, tc := range []struct {
		token string
		ok    bool
	}{{"tok-123456", true}, {"tok-wrong-987", false}} {
		res, err := c.Run(t.Context(), Request{
			Remote: Remote{URL: fs.URL + "/app.git", Auth: &Auth{BearerToken: tc.token, CACert: ca}}, Commit: testAuthor,
			Change: setFile("app.yaml", "v-"+tc.token+"\n", "bearer"),
		})
		if tc.ok && (err != nil || res.Commit == "") {
			t.Errorf("Run with the right token = %+v, %v", res, err)
		}
		if !tc.ok && (!errors.Is(err, ErrAuth) || strings.Contains(err.Error(), tc.token)) {
			t.Errorf("Run with a wrong token: error = %v, want ErrAuth without the token", err)
		}
	}
}

// The git server itself requires client certificates; its CA (from
// fixtures/pki) signs the one the Secret holds.
func TestMutualTLS(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithTLS(), gitserver.WithClientCertAuth())
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	cliCert, cliKey, err := srv.HTTP.IssueClientCert("dockhand")
	if err != nil {
		t.Fatal(err)
	}
	a, err := AuthFromSecret(map[string][]byte{KeyCACert: srv.HTTP.CACertPEM(), KeyTLSCert: cliCert, KeyTLSKey: cliKey})
	if err != nil {
		t.Fatal(err)
	}
	run := func(a *Auth, content string) (Result, error) {
		return newClient(t).Run(t.Context(), Request{Remote: Remote{URL: srv.HTTP.URL("app"), Auth: a}, Commit: testAuthor, Change: setFile("app.yaml", content, "mtls")})
	}
	res, err := run(a, "mtls\n")
	if err != nil || res.Commit == "" || srv.BranchHead(t, "app", "main") != res.Commit {
		t.Fatalf("Run with a client certificate = %+v, %v", res, err)
	}
	for _, r := range srv.HTTP.Requests() {
		if r.ClientCert != "dockhand" {
			t.Errorf("request %s %s came with client certificate %q, want dockhand", r.Method, r.Path, r.ClientCert)
		}
	}

	without := *a
	without.ClientCert, without.ClientKey = nil, nil
	if _, err := run(&without, "x\n"); err == nil {
		t.Error("Run without a client certificate succeeded")
	}
	other, err := pki.NewAuthority("another CA")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.IssueClient("dockhand")
	if err != nil {
		t.Fatal(err)
	}
	foreign := *a
	foreign.ClientCert, foreign.ClientKey = stranger.CertPEM, stranger.KeyPEM
	if _, err := run(&foreign, "y\n"); err == nil {
		t.Error("Run with a client certificate from another CA succeeded")
	}
	if got := srv.BranchHead(t, "app", "main"); got != res.Commit {
		t.Errorf("main = %s after refused runs, want %s", got, res.Commit)
	}
}

func TestProxy(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	var hits atomic.Int32
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		hits.Add(1)
		r.Out.URL = r.In.URL // absolute-form: forward as asked
	}})
	defer proxy.Close()
	c := newClient(t)
	res, err := c.Run(t.Context(), Request{
		Remote: Remote{URL: srv.HTTP.URL("app"), Auth: &Auth{Proxy: &Proxy{URL: proxy.URL}}}, Commit: testAuthor,
		Change: setFile("app.yaml", "proxied\n", "via proxy"),
	})
	if err != nil || res.Commit == "" {
		t.Fatalf("Run through a proxy = %+v, %v", res, err)
	}
	if hits.Load() == 0 {
		t.Error("the proxy saw no request")
	}
}

func TestCredentialsOverPlainHTTPRefused(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth("bot", "plain-secret"))
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	fetches := srv.HTTP.Fetches()
	_, err := newClient(t).Run(t.Context(), Request{
		Remote: Remote{URL: srv.HTTP.URL("app"), Auth: &Auth{Username: "bot", Password: "plain-secret"}}, Commit: testAuthor,
		Change: setFile("app.yaml", "x\n", "x"),
	})
	if !errors.Is(err, ErrInsecureHTTP) {
		t.Errorf("Run = %v, want ErrInsecureHTTP", err)
	}
	if srv.HTTP.Fetches() != fetches {
		t.Error("credentials were sent before refusing")
	}
	// Credentials inside the URL are never shown either.
	_, err = newClient(t).Run(t.Context(), Request{Remote: Remote{URL: srv.HTTP.AuthURL("app")}, Commit: testAuthor, Change: setFile("a", "b", "c")})
	if err == nil || strings.Contains(err.Error(), "plain-secret") {
		t.Errorf("Run with credentials in an http URL: error = %v, want a refusal without the password", err)
	}
}

func TestAuthFromSecret(t *testing.T) {
	appKey := testRSAKeyPEM(t)
	tests := []struct {
		name    string
		data    map[string][]byte
		want    *Auth
		wantErr string
	}{
		{name: "basic", data: map[string][]byte{"username": []byte("u"), "password": []byte("p")}, want: &Auth{Username: "u", Password: "p"}},
		{name: "bearer", data: map[string][]byte{"bearerToken": []byte("t")}, want: &Auth{BearerToken: "t"}},
		{name: "ssh", data: map[string][]byte{"identity": []byte("k"), "known_hosts": []byte("h"), "password": []byte("pp")}, want: &Auth{Identity: []byte("k"), KnownHosts: []byte("h"), Password: "pp"}},
		{name: "github app", data: map[string][]byte{"githubAppID": []byte("42"), "githubAppInstallationID": []byte("7"), "githubAppPrivateKey": appKey, "githubAppBaseURL": []byte("https://ghe.example/api/v3")},
			want: &Auth{GitHubApp: &GitHubApp{AppID: "42", InstallationID: 7, PrivateKey: appKey, BaseURL: "https://ghe.example/api/v3"}}},
		{name: "github app by owner", data: map[string][]byte{"githubAppID": []byte("42"), "githubAppInstallationOwner": []byte("acme"), "githubAppPrivateKey": appKey},
			want: &Auth{GitHubApp: &GitHubApp{AppID: "42", InstallationOwner: "acme", PrivateKey: appKey}}},
		{name: "github app without installation", data: map[string][]byte{"githubAppID": []byte("42"), "githubAppPrivateKey": appKey}, wantErr: "githubAppInstallationID or githubAppInstallationOwner"},
		{name: "github app bad key", data: map[string][]byte{"githubAppID": []byte("42"), "githubAppInstallationID": []byte("7"), "githubAppPrivateKey": []byte("nope")}, wantErr: "githubAppPrivateKey"},
		{name: "github app bad id", data: map[string][]byte{"githubAppID": []byte("42"), "githubAppInstallationID": []byte("x"), "githubAppPrivateKey": appKey}, wantErr: "not a number"},
		{name: "cert without key", data: map[string][]byte{"tls.crt": []byte("c")}, wantErr: "must be set together"},
		{name: "bad ca", data: map[string][]byte{"ca.crt": []byte("nope")}, wantErr: "ca.crt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AuthFromSecret(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("AuthFromSecret error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AuthFromSecret (-want +got):\n%s", diff)
			}
		})
	}
	p, err := ProxyFromSecret(map[string][]byte{"address": []byte("http://proxy:3128"), "username": []byte("u"), "password": []byte("p")})
	if err != nil || *p != (Proxy{URL: "http://proxy:3128", Username: "u", Password: "p"}) {
		t.Errorf("ProxyFromSecret = %+v, %v", p, err)
	}
	if _, err := ProxyFromSecret(map[string][]byte{}); err == nil {
		t.Error("ProxyFromSecret without address: no error")
	}
}

// startAgent serves an SSH agent (x/crypto's keyring over the agent
// protocol) on a Unix socket, holding keys, until the test ends.
func startAgent(t *testing.T, keys ...[]byte) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "agent") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ring := agent.NewKeyring()
	for _, k := range keys {
		raw, err := ssh.ParseRawPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := ring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
	)
	// Clients keep their agent connections open: close them from this end.
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			if closed {
				conn.Close()
			}
			mu.Unlock()
			wg.Go(func() { _ = agent.ServeAgent(ring, conn) })
		}
	})
	return sock
}

func TestSSHAgent(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithSSH())
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	hosts := []byte(srv.SSH.KnownHosts())
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherPEM, err := ssh.MarshalPrivateKey(other, "")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		auth    *Auth
		wantErr bool
	}{
		{name: "agent holding the key", auth: &Auth{SSHAgent: startAgent(t, srv.SSH.UserKeyPEM()), KnownHosts: hosts}},
		{name: "agent holding another key", auth: &Auth{SSHAgent: startAgent(t, pem.EncodeToMemory(otherPEM)), KnownHosts: hosts}, wantErr: true},
		{name: "empty agent", auth: &Auth{SSHAgent: startAgent(t), KnownHosts: hosts}, wantErr: true},
		{name: "no agent at the socket", auth: &Auth{SSHAgent: filepath.Join(t.TempDir(), "none.sock"), KnownHosts: hosts}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			branch := "agent-" + strings.ReplaceAll(tc.name, " ", "-")
			c := newClient(t)
			res, err := c.Run(t.Context(), Request{
				Remote: Remote{URL: srv.SSH.URL("app"), Auth: tc.auth}, Commit: testAuthor,
				Push:   PushOptions{Branch: branch},
				Change: setFile("app.yaml", "v2\n", "over ssh with an agent"),
			})
			if tc.wantErr {
				if err == nil {
					t.Fatal("Run succeeded, want an error")
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := srv.BranchHead(t, "app", branch); got != res.Commit {
				t.Errorf("pushed branch = %s, want %s", got, res.Commit)
			}
			// A second run reuses the Client's agent connection.
			if _, err := c.Run(t.Context(), Request{
				Remote: Remote{URL: srv.SSH.URL("app"), Auth: tc.auth}, Commit: testAuthor,
				Push:   PushOptions{Branch: branch},
				Change: setFile("app.yaml", "v3\n", "again"),
			}); err != nil {
				t.Fatalf("second Run: %v", err)
			}
		})
	}
}
