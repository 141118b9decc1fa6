package runner

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockhand-dev/dockhand/gitpush"
)

func TestGitAuthFromEnv(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) string {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write(filepath.Join(home, ".ssh", "id_rsa"), "rsa key")
	write(filepath.Join(home, ".ssh", "known_hosts"), "home known hosts")
	explicitKey := write(filepath.Join(t.TempDir(), "deploy"), "deploy key")

	for _, tc := range []struct {
		name string
		env  map[string]string
		url  string
		want *gitpush.Auth
	}{
		{"nothing set", nil, "https://example.com/fleet.git", nil},
		{"GIT_TOKEN anywhere", map[string]string{"GIT_TOKEN": "t"}, "https://git.example.com/fleet.git",
			&gitpush.Auth{Username: "git", Password: "t"}},
		{"GITHUB_TOKEN on github.com", map[string]string{"GIT_TOKEN": "t", "GITHUB_TOKEN": "gh"}, "https://github.com/org/fleet",
			&gitpush.Auth{Username: "x-access-token", Password: "gh"}},
		{"GITHUB_TOKEN not elsewhere", map[string]string{"GITHUB_TOKEN": "gh"}, "https://gitlab.com/org/fleet", nil},
		{"GITLAB_TOKEN on gitlab.com", map[string]string{"GITLAB_TOKEN": "gl"}, "https://GitLab.com/org/fleet",
			&gitpush.Auth{Username: "oauth2", Password: "gl"}},
		{"GIT_USERNAME wins", map[string]string{"GIT_TOKEN": "t", "GIT_USERNAME": "bot"}, "https://github.com/org/fleet",
			&gitpush.Auth{Username: "bot", Password: "t"}},
		{"basic", map[string]string{"GIT_USERNAME": "me", "GIT_PASSWORD": "pw"}, "https://example.com/x",
			&gitpush.Auth{Username: "me", Password: "pw"}},
		{"bearer", map[string]string{"GIT_BEARER_TOKEN": "b"}, "https://example.com/x",
			&gitpush.Auth{BearerToken: "b"}},
		{"never over plain http", map[string]string{"GIT_TOKEN": "t"}, "http://example.com/x", nil},
		{"ssh default key", nil, "ssh://git@example.com/org/fleet.git",
			&gitpush.Auth{Identity: []byte("rsa key"), KnownHosts: []byte("home known hosts")}},
		{"scp-like, explicit key and passphrase", map[string]string{"GIT_SSH_KEY_FILE": explicitKey, "GIT_SSH_KEY_PASSPHRASE": "pp"},
			"git@example.com:org/fleet.git",
			&gitpush.Auth{Identity: []byte("deploy key"), Password: "pp", KnownHosts: []byte("home known hosts")}},
		{"ssh agent before default keys", map[string]string{"SSH_AUTH_SOCK": "/run/agent.sock"}, "ssh://git@example.com/org/fleet.git",
			&gitpush.Auth{SSHAgent: "/run/agent.sock", KnownHosts: []byte("home known hosts")}},
		{"explicit key before the agent", map[string]string{"SSH_AUTH_SOCK": "/run/agent.sock", "GIT_SSH_KEY_FILE": explicitKey}, "ssh://git@example.com/org/fleet.git",
			&gitpush.Auth{Identity: []byte("deploy key"), KnownHosts: []byte("home known hosts")}},
		{"local path", map[string]string{"GIT_TOKEN": "t"}, "/srv/git/fleet.git", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := GitAuthFromEnv(func(k string) string { return tc.env[k] }, home)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, auth(tc.url)); diff != "" {
				t.Errorf("auth(%q) (-want +got):\n%s", tc.url, diff)
			}
		})
	}
}

func TestGitAuthFromEnvMissingExplicitFile(t *testing.T) {
	env := map[string]string{EnvGitSSHKeyFile: filepath.Join(t.TempDir(), "missing")}
	if _, err := GitAuthFromEnv(func(k string) string { return env[k] }, ""); err == nil {
		t.Errorf("GitAuthFromEnv with %s naming a missing file = nil error", EnvGitSSHKeyFile)
	}
}

func TestRemoteScheme(t *testing.T) {
	for _, tc := range []struct{ in, scheme, host string }{
		{"https://github.com:443/org/x", "https", "github.com"},
		{"ssh://git@host:2222/x.git", "ssh", "host"},
		{"git@Host.example:org/x.git", "ssh", "host.example"},
		{"host:x.git", "ssh", "host"},
		{"./relative/path", "", ""},
		{"file:///srv/x.git", "file", ""},
	} {
		s, h := remoteScheme(tc.in)
		if s != tc.scheme || h != tc.host {
			t.Errorf("remoteScheme(%q) = %q, %q; want %q, %q", tc.in, s, h, tc.scheme, tc.host)
		}
	}
}

// The docker config is read again when it changes, so a long run sees a
// new `docker login`; a file caught half written keeps the last good one.
func TestDockerConfigFileFollowsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	write := func(content string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user string) string {
		return fmt.Sprintf(`{"auths": {"registry.example": {"auth": %q}}}`, base64.StdEncoding.EncodeToString([]byte(user+":pw")))
	}
	user := func(f *DockerConfigFile) string {
		t.Helper()
		cfg := f.Current()
		if cfg == nil {
			t.Fatal("Current() = nil")
		}
		return cfg.Auths["registry.example"].Username
	}
	start := time.Now().Add(-time.Hour)
	write(login("first"), start)
	if _, err := LoadDockerConfigFile(filepath.Join(filepath.Dir(path), "missing.json")); err == nil {
		t.Error("LoadDockerConfigFile of a missing file: no error")
	}
	f, err := LoadDockerConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := user(f); got != "first" {
		t.Fatalf("user = %q, want first", got)
	}
	write(login("second"), start.Add(time.Minute))
	if got := user(f); got != "second" {
		t.Errorf("after a new login, user = %q, want second", got)
	}
	write(`{"auths": {"registry.exa`, start.Add(2*time.Minute))
	if got := user(f); got != "second" {
		t.Errorf("with the file half written, user = %q, want the last good one, second", got)
	}
	write(login("third"), start.Add(3*time.Minute))
	if got := user(f); got != "third" {
		t.Errorf("once the file is whole again, user = %q, want third", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := user(f); got != "third" {
		t.Errorf("with the file gone, user = %q, want the last one read, third", got)
	}
}
