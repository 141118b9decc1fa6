package scanner

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// DockerConfig is a parsed docker config file (~/.docker/config.json) or
// the .dockerconfigjson key of a kubernetes.io/dockerconfigjson Secret.
type DockerConfig struct {
	// Auths maps a registry (as written: "host", "host:port",
	// "https://host/v1/", ...) to its credentials.
	Auths map[string]DockerAuth
	// CredHelpers maps a registry host to the name of a credential helper
	// (the program docker-credential-NAME).
	CredHelpers map[string]string
	// CredsStore is the helper for every registry without an entry in
	// CredHelpers.
	CredsStore string
}

// DockerAuth is one entry of a docker config's "auths".
type DockerAuth struct {
	Username, Password string
	// IdentityToken is an OAuth2 refresh token for the registry's token
	// server.
	IdentityToken string
	// RegistryToken is a bearer token sent to the registry as is.
	RegistryToken string
}

func (a DockerAuth) empty() bool {
	return a.Username == "" && a.Password == "" && a.IdentityToken == "" && a.RegistryToken == ""
}

func (a DockerAuth) authConfig() authn.AuthConfig {
	return authn.AuthConfig{
		Username:      a.Username,
		Password:      a.Password,
		IdentityToken: a.IdentityToken,
		RegistryToken: a.RegistryToken,
	}
}

// ParseDockerConfigJSON parses a docker config. It accepts the current
// format ({"auths": {...}, "credHelpers": {...}}) and the legacy .dockercfg
// format (the auths map at the top level). An entry's "auth" field
// (base64 of "user:password") fills Username and Password. Errors never
// quote the input.
func ParseDockerConfigJSON(data []byte) (*DockerConfig, error) {
	type entry struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	}
	var doc struct {
		Auths       map[string]entry  `json:"auths"`
		CredHelpers map[string]string `json:"credHelpers"`
		CredsStore  string            `json:"credsStore"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: docker config is not valid JSON (%s)", ErrInvalid, jsonErrorKind(err))
	}
	if doc.Auths == nil && doc.CredHelpers == nil && doc.CredsStore == "" {
		// Legacy .dockercfg: {"host": {"auth": ..., "email": ...}}.
		var legacy map[string]entry
		if json.Unmarshal(data, &legacy) == nil {
			doc.Auths = legacy
		}
	}
	cfg := &DockerConfig{
		Auths:       make(map[string]DockerAuth, len(doc.Auths)),
		CredHelpers: doc.CredHelpers,
		CredsStore:  doc.CredsStore,
	}
	for key, e := range doc.Auths {
		a := DockerAuth{
			Username:      e.Username,
			Password:      e.Password,
			IdentityToken: e.IdentityToken,
			RegistryToken: e.RegistryToken,
		}
		if e.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(e.Auth))
			if err != nil {
				return nil, fmt.Errorf("%w: docker config entry for %s: \"auth\" is not base64", ErrInvalid, key)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("%w: docker config entry for %s: \"auth\" is not user:password", ErrInvalid, key)
			}
			a.Username, a.Password = user, pass
		}
		cfg.Auths[key] = a
	}
	return cfg, nil
}

// jsonErrorKind describes a JSON error without the input's bytes.
func jsonErrorKind(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("wrong type for field %q", te.Field)
	}
	return "unreadable"
}

// LoadDockerConfigFile reads and parses the docker config at path.
func LoadDockerConfigFile(path string) (*DockerConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading docker config: %w", err)
	}
	cfg, err := ParseDockerConfigJSON(data)
	if err != nil {
		return nil, fmt.Errorf("reading docker config %s: %w", path, err)
	}
	return cfg, nil
}

// DefaultDockerConfigPath is where docker looks for its config:
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json. It returns "" when
// no home directory is known.
func DefaultDockerConfigPath() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}

// dockerHubHosts are the names docker configs use for Docker Hub, which
// go-containerregistry calls index.docker.io.
var dockerHubHosts = map[string]bool{
	"index.docker.io":         true,
	"docker.io":               true,
	"registry-1.docker.io":    true,
	"registry.hub.docker.com": true,
}

// normalizeRegistryKey reduces a docker config key ("https://host:5000/v2/")
// to the host ("host:5000"), lower-cased, with Docker Hub's aliases folded.
func normalizeRegistryKey(key string) string {
	k := strings.ToLower(strings.TrimSpace(key))
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	if i := strings.IndexByte(k, '/'); i >= 0 {
		k = k[:i]
	}
	if dockerHubHosts[k] {
		return "index.docker.io"
	}
	return k
}

// lookupAuth finds the auths entry for host. Exact keys win over keys that
// differ only in scheme or path.
func (c *DockerConfig) lookupAuth(host string) (key string, a DockerAuth, ok bool) {
	want := normalizeRegistryKey(host)
	if a, ok := c.Auths[host]; ok && !a.empty() {
		return host, a, true
	}
	for k, a := range c.Auths {
		if normalizeRegistryKey(k) == want && !a.empty() {
			return k, a, true
		}
	}
	return "", DockerAuth{}, false
}

// helperFor returns the credential helper configured for host, if any.
func (c *DockerConfig) helperFor(host string) string {
	want := normalizeRegistryKey(host)
	for k, h := range c.CredHelpers {
		if normalizeRegistryKey(k) == want {
			return h
		}
	}
	return ""
}

// helperNamePattern keeps helper names to what docker allows in practice,
// so a config cannot make us run a path.
var helperNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// runCredentialHelper asks docker-credential-NAME for the credentials of
// serverURL, as the docker CLI does: the URL on stdin, JSON on stdout.
func runCredentialHelper(ctx context.Context, helper, serverURL string) (DockerAuth, error) {
	if !helperNamePattern.MatchString(helper) {
		return DockerAuth{}, fmt.Errorf("%w: credential helper name %q", ErrInvalid, helper)
	}
	cmd := exec.CommandContext(ctx, "docker-credential-"+helper, "get")
	cmd.Stdin = strings.NewReader(serverURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String() + " " + stderr.String())
		if strings.Contains(msg, "credentials not found") {
			return DockerAuth{}, errNoHelperCredentials
		}
		// The helper's output is not quoted: it might hold a secret.
		return DockerAuth{}, fmt.Errorf("running credential helper docker-credential-%s: %w", helper, err)
	}
	var out struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return DockerAuth{}, fmt.Errorf("credential helper docker-credential-%s printed no JSON credentials", helper)
	}
	if out.Username == "<token>" {
		return DockerAuth{IdentityToken: out.Secret}, nil
	}
	return DockerAuth{Username: out.Username, Password: out.Secret}, nil
}

var errNoHelperCredentials = errors.New("credential helper has no credentials")
