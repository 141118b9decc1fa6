package gitpush

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Secret data keys, as Flux names them.
const (
	KeyUsername                   = "username"
	KeyPassword                   = "password"
	KeyBearerToken                = "bearerToken"
	KeyIdentity                   = "identity"
	KeyKnownHosts                 = "known_hosts"
	KeyCACert                     = "ca.crt"
	KeyTLSCert                    = "tls.crt"
	KeyTLSKey                     = "tls.key"
	KeyGitHubAppID                = "githubAppID"
	KeyGitHubAppInstallationID    = "githubAppInstallationID"
	KeyGitHubAppInstallationOwner = "githubAppInstallationOwner"
	KeyGitHubAppPrivateKey        = "githubAppPrivateKey"
	KeyGitHubAppBaseURL           = "githubAppBaseURL"
	// Proxy Secret keys (Flux's proxySecretRef).
	KeyProxyAddress = "address"
	// Signing Secret keys (Flux's signingKey.secretRef).
	KeyGPGKey        = "git.asc"
	KeyGPGPassphrase = "passphrase"
)

// Auth is how to reach a remote. The zero value is anonymous access with the
// system's CA roots and host keys checked against an empty known_hosts (so SSH
// fails until KnownHosts is set).
type Auth struct {
	// Username and Password for HTTP basic auth. Over SSH, Password is the
	// passphrase of Identity, as in Flux.
	Username string
	Password string
	// BearerToken is sent as "Authorization: Bearer" over HTTP(S).
	BearerToken string
	// Identity is an SSH private key (PEM or OpenSSH format).
	Identity []byte
	// KnownHosts lists the SSH host keys to trust, in known_hosts format.
	KnownHosts []byte
	// CACert adds CA certificates (PEM) to the system roots for HTTPS.
	CACert []byte
	// ClientCert and ClientKey are a client certificate (PEM) for mutual TLS.
	ClientCert []byte
	ClientKey  []byte
	// GitHubApp authenticates as a GitHub App installation: its token is the
	// HTTPS password (user "x-access-token") and the REST API token.
	GitHubApp *GitHubApp
	// Proxy sends HTTP(S) and SSH connections through a proxy.
	Proxy *Proxy
	// AllowInsecureHTTP permits sending credentials over plain http://.
	// Default false: such a remote is refused.
	AllowInsecureHTTP bool
	// InsecureIgnoreHostKey accepts any SSH host key. Default false; only
	// for tests and throwaway servers, never set from a Secret.
	InsecureIgnoreHostKey bool
	// SSHAgent is the socket of an SSH agent (what SSH_AUTH_SOCK names)
	// whose keys sign in to SSH remotes when Identity is empty. Default
	// empty: no agent. Never set from a Secret.
	SSHAgent string
}

// GitHubApp identifies a GitHub App installation.
type GitHubApp struct {
	AppID string
	// InstallationID, or InstallationOwner (user or organisation login) to
	// look the installation up.
	InstallationID    int64
	InstallationOwner string
	// PrivateKey is the app's RSA private key (PEM).
	PrivateKey []byte
	// BaseURL is the REST API root; default https://api.github.com. For
	// GitHub Enterprise Server: https://HOST/api/v3.
	BaseURL string
}

// Proxy is an HTTP(S) proxy, from a Secret with keys address, username and
// password.
type Proxy struct {
	URL      string
	Username string
	Password string
}

// AuthFromSecret maps Secret data with Flux's key names onto an Auth. Keys
// it does not know are ignored. It checks what can be checked without a
// remote: PEM blocks parse, a certificate has its key, a GitHub App has an
// ID, a private key and an installation.
func AuthFromSecret(data map[string][]byte) (*Auth, error) {
	a := &Auth{
		Username:    string(data[KeyUsername]),
		Password:    string(data[KeyPassword]),
		BearerToken: string(data[KeyBearerToken]),
		Identity:    data[KeyIdentity],
		KnownHosts:  data[KeyKnownHosts],
		CACert:      data[KeyCACert],
		ClientCert:  data[KeyTLSCert],
		ClientKey:   data[KeyTLSKey],
	}
	if len(a.CACert) > 0 {
		if !x509.NewCertPool().AppendCertsFromPEM(a.CACert) {
			return nil, fmt.Errorf("reading secret key %s: no PEM certificate found", KeyCACert)
		}
	}
	if (len(a.ClientCert) > 0) != (len(a.ClientKey) > 0) {
		return nil, fmt.Errorf("reading secret: %s and %s must be set together", KeyTLSCert, KeyTLSKey)
	}
	if len(a.ClientCert) > 0 {
		if _, err := tls.X509KeyPair(a.ClientCert, a.ClientKey); err != nil {
			return nil, fmt.Errorf("reading secret keys %s and %s: invalid key pair", KeyTLSCert, KeyTLSKey)
		}
	}
	if id := string(data[KeyGitHubAppID]); id != "" || len(data[KeyGitHubAppPrivateKey]) > 0 {
		app := &GitHubApp{
			AppID:             strings.TrimSpace(id),
			InstallationOwner: strings.TrimSpace(string(data[KeyGitHubAppInstallationOwner])),
			PrivateKey:        data[KeyGitHubAppPrivateKey],
			BaseURL:           strings.TrimSpace(string(data[KeyGitHubAppBaseURL])),
		}
		if s := strings.TrimSpace(string(data[KeyGitHubAppInstallationID])); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("reading secret key %s: not a number", KeyGitHubAppInstallationID)
			}
			app.InstallationID = n
		}
		if err := app.validate(); err != nil {
			return nil, err
		}
		a.GitHubApp = app
	}
	return a, nil
}

func (app *GitHubApp) validate() error {
	if app.AppID == "" {
		return fmt.Errorf("reading secret: %s is required for a GitHub App", KeyGitHubAppID)
	}
	if app.InstallationID == 0 && app.InstallationOwner == "" {
		return fmt.Errorf("reading secret: %s or %s is required for a GitHub App", KeyGitHubAppInstallationID, KeyGitHubAppInstallationOwner)
	}
	if _, err := parseRSAKey(app.PrivateKey); err != nil {
		return fmt.Errorf("reading secret key %s: %w", KeyGitHubAppPrivateKey, err)
	}
	return nil
}

// ProxyFromSecret reads a proxy Secret (keys address, username, password).
func ProxyFromSecret(data map[string][]byte) (*Proxy, error) {
	p := &Proxy{
		URL:      strings.TrimSpace(string(data[KeyProxyAddress])),
		Username: string(data[KeyUsername]),
		Password: string(data[KeyPassword]),
	}
	if p.URL == "" {
		return nil, fmt.Errorf("reading proxy secret: %s is required", KeyProxyAddress)
	}
	u, err := url.Parse(p.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("reading proxy secret: %s is not a URL", KeyProxyAddress)
	}
	return p, nil
}

// secrets lists the credential strings that must never appear in an error.
func (a *Auth) secrets() []string {
	if a == nil {
		return nil
	}
	var out []string
	for _, s := range []string{a.Password, a.BearerToken, string(a.Identity), string(a.ClientKey)} {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	if a.Proxy != nil && a.Proxy.Password != "" {
		out = append(out, a.Proxy.Password)
	}
	if a.GitHubApp != nil && len(a.GitHubApp.PrivateKey) > 0 {
		out = append(out, string(a.GitHubApp.PrivateKey))
	}
	return out
}

func (a *Auth) hasCredentials() bool {
	return a != nil && (a.Username != "" || a.Password != "" || a.BearerToken != "" || a.GitHubApp != nil || len(a.ClientCert) > 0)
}

var errNoPEM = errors.New("no PEM block found")

func firstPEM(b []byte) (*pem.Block, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errNoPEM
	}
	return blk, nil
}
