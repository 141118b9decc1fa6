package gitpush

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Remote is a Git remote and the credentials to reach it.
type Remote struct {
	// URL is https://, http://, ssh://, scp-like (git@host:path), file://
	// or a local path. Credentials in the URL are moved into basic auth and
	// never shown.
	URL  string
	Auth *Auth
	// Timeout bounds each exchange with the remote: listing its refs, a
	// fetch, a push. Zero means no bound but the context's.
	Timeout time.Duration
}

// ErrInsecureHTTP is returned for credentials over plain http:// unless
// Auth.AllowInsecureHTTP is set.
var ErrInsecureHTTP = errors.New("refusing to send credentials over plain http (set AllowInsecureHTTP to allow)")

// ErrNoKnownHosts is returned for an SSH remote without known_hosts.
var ErrNoKnownHosts = errors.New("ssh remote needs known_hosts to verify the host key")

// conn is what go-git needs to reach one remote.
type conn struct {
	url        string // with any credentials removed
	display    string // for errors and logs
	protocol   string
	auth       transport.AuthMethod
	caBundle   []byte
	clientCert []byte
	clientKey  []byte
	proxy      transport.ProxyOptions
	secrets    []string
	timeout    time.Duration // per exchange with the remote; zero: none
}

// exchange runs one exchange with the remote (a ref listing, a fetch, a
// push) under the remote's timeout. An error caused by that timeout says
// so, and still matches context.DeadlineExceeded.
func (cn *conn) exchange(ctx context.Context, f func(context.Context) error) error {
	if cn.timeout <= 0 {
		return f(ctx)
	}
	bounded, cancel := context.WithTimeout(ctx, cn.timeout)
	defer cancel()
	err := f(bounded)
	if err != nil && ctx.Err() == nil && bounded.Err() == context.DeadlineExceeded {
		return &timeoutError{after: cn.timeout, err: err}
	}
	return err
}

// timeoutError is an exchange with the remote cut off by Remote.Timeout.
type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no answer within the remote's timeout of %s: %v", e.after, e.err)
}

func (e *timeoutError) Unwrap() []error { return []error{e.err, context.DeadlineExceeded} }

// dial prepares a conn: checks the URL against the auth, builds the go-git
// auth method and, for a GitHub App, gets (or reuses) an installation token.
func (c *Client) dial(ctx context.Context, r Remote) (*conn, error) {
	ep, err := transport.NewEndpoint(r.URL)
	if err != nil {
		return nil, fmt.Errorf("parsing remote URL: %w", errors.New("invalid URL"))
	}
	a := r.Auth
	if a == nil {
		a = &Auth{}
	}
	cp := *a
	a = &cp
	if ep.Password != "" && a.Password == "" && a.BearerToken == "" {
		a.Username, a.Password = ep.User, ep.Password
	}
	out := &conn{protocol: ep.Protocol, secrets: a.secrets(), timeout: r.Timeout}
	if ep.Password != "" {
		out.secrets = append(out.secrets, ep.Password)
	}
	clean := *ep
	clean.Password = ""
	if ep.Protocol == "http" || ep.Protocol == "https" {
		clean.User = ""
	}
	out.url = cleanURL(r.URL, &clean)
	out.display = displayURL(&clean)
	if a.Proxy != nil {
		out.proxy = transport.ProxyOptions{URL: a.Proxy.URL, Username: a.Proxy.Username, Password: a.Proxy.Password}
	}

	switch ep.Protocol {
	case "http", "https":
		out.caBundle, out.clientCert, out.clientKey = a.CACert, a.ClientCert, a.ClientKey
		if ep.Protocol == "http" && a.hasCredentials() && !a.AllowInsecureHTTP {
			return nil, ErrInsecureHTTP
		}
		switch {
		case a.GitHubApp != nil:
			hc, err := c.restClient(a)
			if err != nil {
				return nil, err
			}
			tok, err := c.appToken(ctx, a.GitHubApp, hc)
			if err != nil {
				return nil, err
			}
			out.secrets = append(out.secrets, tok)
			out.auth = &githttp.BasicAuth{Username: "x-access-token", Password: tok}
		case a.BearerToken != "":
			out.auth = &githttp.TokenAuth{Token: a.BearerToken}
		case a.Username != "" || a.Password != "":
			user := a.Username
			if user == "" {
				user = "git"
			}
			out.auth = &githttp.BasicAuth{Username: user, Password: a.Password}
		}
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		var hostKeys gitssh.HostKeyCallbackHelper
		hostPort := net.JoinHostPort(ep.Host, strconv.Itoa(portOr(ep.Port, 22)))
		switch {
		case a.InsecureIgnoreHostKey:
			hostKeys.HostKeyCallback = ssh.InsecureIgnoreHostKey() // explicit, documented opt-out
		case len(a.KnownHosts) == 0:
			return nil, ErrNoKnownHosts
		default:
			cb, algos, err := hostKeyChecker(a.KnownHosts, hostPort)
			if err != nil {
				return nil, err
			}
			hostKeys.HostKeyCallback, hostKeys.HostKeyAlgorithms = cb, algos
		}
		switch {
		case len(a.Identity) > 0:
			signer, err := parseSSHKey(a.Identity, a.Password)
			if err != nil {
				return nil, err
			}
			out.auth = &gitssh.PublicKeys{User: user, Signer: signer, HostKeyCallbackHelper: hostKeys}
		case a.SSHAgent != "":
			out.auth = &gitssh.PublicKeysCallback{User: user, Callback: c.agentSigners(a.SSHAgent), HostKeyCallbackHelper: hostKeys}
		default:
			return nil, errors.New("ssh remote needs an identity (private key) or an SSH agent")
		}
	case "file":
		if a.hasCredentials() {
			return nil, errors.New("credentials given for a local remote")
		}
	default:
		return nil, fmt.Errorf("unsupported remote protocol %q", ep.Protocol)
	}
	return out, nil
}

func portOr(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}

// agentSigners returns the keys of the SSH agent listening on socket, asked
// at each connection to a remote so that keys added later count. The
// Client keeps one connection per agent (agent clients are safe for
// concurrent use) and dials again when it breaks.
func (c *Client) agentSigners(socket string) func() ([]ssh.Signer, error) {
	return func() ([]ssh.Signer, error) {
		signers, err := c.agent(socket).Signers()
		if err != nil {
			c.dropAgent(socket)
			signers, err = c.agent(socket).Signers()
		}
		if err != nil {
			return nil, fmt.Errorf("listing the SSH agent's keys: %w", err)
		}
		if len(signers) == 0 {
			return nil, errors.New("the SSH agent holds no keys")
		}
		return signers, nil
	}
}

// agent returns the Client's connection to the agent at socket, dialling
// it if needed; a failed dial gives an agent whose every call fails.
func (c *Client) agent(socket string) agent.ExtendedAgent {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.agents[socket]; ok {
		return a.client
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return failedAgent{fmt.Errorf("connecting to the SSH agent: %w", err)}
	}
	if c.agents == nil {
		c.agents = map[string]agentConn{}
	}
	a := agentConn{conn: conn, client: agent.NewClient(conn)}
	c.agents[socket] = a
	return a.client
}

func (c *Client) dropAgent(socket string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.agents[socket]; ok {
		_ = a.conn.Close()
		delete(c.agents, socket)
	}
}

type agentConn struct {
	conn   net.Conn
	client agent.ExtendedAgent
}

// failedAgent answers every call with the error that kept it from existing.
type failedAgent struct{ err error }

func (f failedAgent) List() ([]*agent.Key, error)                        { return nil, f.err }
func (f failedAgent) Sign(ssh.PublicKey, []byte) (*ssh.Signature, error) { return nil, f.err }
func (f failedAgent) Add(agent.AddedKey) error                           { return f.err }
func (f failedAgent) Remove(ssh.PublicKey) error                         { return f.err }
func (f failedAgent) RemoveAll() error                                   { return f.err }
func (f failedAgent) Lock([]byte) error                                  { return f.err }
func (f failedAgent) Unlock([]byte) error                                { return f.err }
func (f failedAgent) Signers() ([]ssh.Signer, error)                     { return nil, f.err }
func (f failedAgent) SignWithFlags(ssh.PublicKey, []byte, agent.SignatureFlags) (*ssh.Signature, error) {
	return nil, f.err
}
func (f failedAgent) Extension(string, []byte) ([]byte, error) { return nil, f.err }

// parseSSHKey reads a private key; passphrase is used only when the key is
// encrypted. Errors never include key material or the passphrase.
func parseSSHKey(pemBytes []byte, passphrase string) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, errors.New("ssh identity is encrypted and no passphrase (password) was given")
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, []byte(passphrase))
		if err != nil {
			return nil, errors.New("decrypting ssh identity: wrong passphrase or unsupported key")
		}
		return s, nil
	}
	if err != nil {
		return nil, errors.New("parsing ssh identity: not a supported private key")
	}
	return s, nil
}

// hostKeyChecker turns known_hosts data into a callback and the host key
// algorithms to offer for hostPort (so the server presents a key type we
// can check).
func hostKeyChecker(data []byte, hostPort string) (ssh.HostKeyCallback, []string, error) {
	f, err := os.CreateTemp("", "dockhand-known-hosts-")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		return nil, nil, err
	}
	db, err := knownhosts.NewDB(f.Name())
	if err != nil {
		return nil, nil, fmt.Errorf("parsing known_hosts: %w", err)
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(hostPort), nil
}

func cleanURL(raw string, ep *transport.Endpoint) string {
	if ep.Protocol == "file" {
		return raw
	}
	if !strings.Contains(raw, "://") { // scp-like
		if ep.User != "" {
			return ep.User + "@" + ep.Host + ":" + ep.Path
		}
		return ep.Host + ":" + ep.Path
	}
	return ep.String()
}

func displayURL(ep *transport.Endpoint) string {
	if ep.Protocol == "file" {
		return ep.Path
	}
	u := url.URL{Scheme: ep.Protocol, Host: ep.Host, Path: ep.Path}
	if ep.Port != 0 {
		u.Host = net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
	}
	if ep.User != "" {
		u.User = url.User(ep.User)
	}
	return u.String()
}

// restClient builds the HTTP client for REST calls to the remote's forge.
func (c *Client) restClient(a *Auth) (*http.Client, error) {
	if c.opts.httpClient != nil {
		return c.opts.httpClient, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if a != nil && len(a.CACert) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(a.CACert) {
			return nil, errors.New("ca.crt has no PEM certificate")
		}
		tlsCfg.RootCAs = pool
	}
	if a != nil && len(a.ClientCert) > 0 {
		kp, err := tls.X509KeyPair(a.ClientCert, a.ClientKey)
		if err != nil {
			return nil, errors.New("tls.crt and tls.key are not a valid key pair")
		}
		tlsCfg.Certificates = []tls.Certificate{kp}
	}
	tr.TLSClientConfig = tlsCfg
	if a != nil && a.Proxy != nil {
		pu, err := url.Parse(a.Proxy.URL)
		if err != nil {
			return nil, errors.New("proxy address is not a URL")
		}
		if a.Proxy.Username != "" {
			pu.User = url.UserPassword(a.Proxy.Username, a.Proxy.Password)
		}
		tr.Proxy = http.ProxyURL(pu)
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

func parseEndpoint(raw string) (*transport.Endpoint, error) {
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return nil, err
	}
	cp := *ep
	cp.Password = ""
	return &cp, nil
}
