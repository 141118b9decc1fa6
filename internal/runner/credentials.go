package runner

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dockhand-dev/dockhand/gitpush"
	"github.com/dockhand-dev/dockhand/scanner"
)

// Environment variables GitAuthFromEnv reads.
const (
	EnvGitToken           = "GIT_TOKEN"                // token for any HTTPS remote
	EnvGitHubToken        = "GITHUB_TOKEN"             // token for github.com, wins over GIT_TOKEN there
	EnvGitLabToken        = "GITLAB_TOKEN"             // token for gitlab.com, wins over GIT_TOKEN there
	EnvGitUsername        = "GIT_USERNAME"             // user name sent with a token or GIT_PASSWORD
	EnvGitPassword        = "GIT_PASSWORD"             // password for any HTTPS remote (with GIT_USERNAME)
	EnvGitBearerToken     = "GIT_BEARER_TOKEN"         // sent as Authorization: Bearer to any HTTPS remote
	EnvGitSSHKeyFile      = "GIT_SSH_KEY_FILE"         // private key for SSH remotes
	EnvSSHAuthSock        = "SSH_AUTH_SOCK"            // the SSH agent, when no key file is named
	EnvGitSSHPassphrase   = "GIT_SSH_KEY_PASSPHRASE"   // passphrase of that key
	EnvGitSSHKnownHosts   = "GIT_SSH_KNOWN_HOSTS_FILE" // known_hosts for SSH remotes
	defaultKnownHostsFile = ".ssh/known_hosts"         // under the home directory
)

// defaultSSHKeys are tried in order under ~/.ssh when GIT_SSH_KEY_FILE is
// not set, as ssh does.
var defaultSSHKeys = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// GitAuthFromEnv returns the credentials of remotes whose automation names
// no Secret (engine.Options.GitAuth), read once from the environment
// (getenv) and the home directory (empty: none):
//
//   - HTTPS: GITHUB_TOKEN for github.com and GITLAB_TOKEN for gitlab.com,
//     else GIT_TOKEN, as the password of GIT_USERNAME (default
//     x-access-token on GitHub, oauth2 on GitLab, git elsewhere); else
//     GIT_USERNAME and GIT_PASSWORD; else GIT_BEARER_TOKEN as a bearer
//     token. Tokens are also what pull requests are opened with.
//   - SSH (ssh:// and git@host:path): the key in GIT_SSH_KEY_FILE, else
//     the keys of the SSH agent at SSH_AUTH_SOCK, else the first of
//     ~/.ssh/id_ed25519, id_ecdsa and id_rsa; a key's passphrase is in
//     GIT_SSH_KEY_PASSPHRASE. Host keys are checked against
//     GIT_SSH_KNOWN_HOSTS_FILE, else ~/.ssh/known_hosts.
//   - Plain http:// and file:// remotes get nothing: credentials are never
//     sent in clear text.
//
// A file named by a variable that cannot be read is an error; missing
// default files are not.
func GitAuthFromEnv(getenv func(string) string, home string) (func(remoteURL string) *gitpush.Auth, error) {
	e := gitEnv{
		token:      getenv(EnvGitToken),
		github:     getenv(EnvGitHubToken),
		gitlab:     getenv(EnvGitLabToken),
		username:   getenv(EnvGitUsername),
		password:   getenv(EnvGitPassword),
		bearer:     getenv(EnvGitBearerToken),
		passphrase: getenv(EnvGitSSHPassphrase),
	}
	var err error
	keyFile, sock := getenv(EnvGitSSHKeyFile), getenv(EnvSSHAuthSock)
	if keyFile == "" && sock != "" {
		e.agent = sock
	} else if e.identity, err = readFirst(keyFile, home, prefixed(".ssh", defaultSSHKeys)...); err != nil {
		return nil, fmt.Errorf("reading the SSH key in %s: %w", EnvGitSSHKeyFile, err)
	}
	if e.knownHosts, err = readFirst(getenv(EnvGitSSHKnownHosts), home, defaultKnownHostsFile); err != nil {
		return nil, fmt.Errorf("reading the known hosts in %s: %w", EnvGitSSHKnownHosts, err)
	}
	return e.auth, nil
}

type gitEnv struct {
	token, github, gitlab string
	username, password    string
	bearer                string
	identity, knownHosts  []byte
	passphrase            string
	agent                 string // SSH agent socket
}

func (e gitEnv) auth(remoteURL string) *gitpush.Auth {
	scheme, host := remoteScheme(remoteURL)
	switch scheme {
	case "https":
		token, user := e.token, "git"
		switch host {
		case "github.com":
			user = "x-access-token"
			if e.github != "" {
				token = e.github
			}
		case "gitlab.com":
			user = "oauth2"
			if e.gitlab != "" {
				token = e.gitlab
			}
		}
		if e.username != "" {
			user = e.username
		}
		switch {
		case token != "":
			return &gitpush.Auth{Username: user, Password: token}
		case e.password != "":
			return &gitpush.Auth{Username: user, Password: e.password}
		case e.bearer != "":
			return &gitpush.Auth{BearerToken: e.bearer}
		}
	case "ssh":
		if len(e.identity) > 0 {
			return &gitpush.Auth{Identity: e.identity, Password: e.passphrase, KnownHosts: e.knownHosts}
		}
		if e.agent != "" {
			return &gitpush.Auth{SSHAgent: e.agent, KnownHosts: e.knownHosts}
		}
	}
	return nil
}

// remoteScheme returns the scheme of a remote URL (scp-like addresses are
// ssh) and its lower-cased host without port.
func remoteScheme(raw string) (scheme, host string) {
	if !strings.Contains(raw, "://") {
		// scp-like: [user@]host:path; a local path has a slash before any colon.
		hostPart, _, ok := strings.Cut(raw, ":")
		if i := strings.LastIndex(hostPart, "@"); i >= 0 {
			hostPart = hostPart[i+1:]
		}
		if !ok || hostPart == "" || strings.Contains(hostPart, "/") {
			return "", ""
		}
		return "ssh", strings.ToLower(hostPart)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", ""
	}
	return strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
}

func prefixed(dir string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

// readFirst reads explicit when it is set (failing if it cannot), else the
// first of defaults (relative to home) that exists.
func readFirst(explicit, home string, defaults ...string) ([]byte, error) {
	if explicit != "" {
		return os.ReadFile(explicit)
	}
	if home == "" {
		return nil, nil
	}
	for _, d := range defaults {
		b, err := os.ReadFile(filepath.Join(home, d))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return b, err
	}
	return nil, nil
}

// DockerConfigFile is the user's docker config file, read again when it
// changes, so that a long run picks up a `docker login` made meanwhile (a
// registry token renewed by a scheduled job, say) without a restart.
type DockerConfigFile struct {
	path string

	mu      sync.Mutex
	cfg     *scanner.DockerConfig
	size    int64
	modTime time.Time
}

// LoadDockerConfigFile reads the docker config at path; it fails when the
// file cannot be read or parsed.
func LoadDockerConfigFile(path string) (*DockerConfigFile, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading docker config: %w", err)
	}
	cfg, err := scanner.LoadDockerConfigFile(path)
	if err != nil {
		return nil, err
	}
	return &DockerConfigFile{path: path, cfg: cfg, size: info.Size(), modTime: info.ModTime()}, nil
}

// Current returns the config as the file holds it now: read again when its
// size or modification time changed. A file that cannot be read or parsed
// (half written, say) leaves the last good config in use, and is read again
// at the next call. It is safe for concurrent use.
func (f *DockerConfigFile) Current() *scanner.DockerConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, err := os.Stat(f.path)
	if err != nil || (info.Size() == f.size && info.ModTime().Equal(f.modTime)) {
		return f.cfg
	}
	cfg, err := scanner.LoadDockerConfigFile(f.path)
	if err != nil {
		return f.cfg
	}
	f.cfg, f.size, f.modTime = cfg, info.Size(), info.ModTime()
	return f.cfg
}
