package scanner

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// session is one scan's view of a registry: an authenticated HTTP client
// and what errors need to say.
type session struct {
	repo   name.Repository
	host   string // registry host as used in URLs
	scheme string // https, or http for an insecure registry
	client *http.Client
	errs   *errorFactory
	forget func() // drops what the scan took from caches, after a 401
}

// check passes err through, first making the next scan start afresh (ping
// again, fetch the provider credential again) when the registry refused
// the credential: its auth settings may have changed, or the credential
// been revoked before its expiry.
func (sess *session) check(err error) error {
	if errors.Is(err, ErrUnauthorized) {
		sess.forget()
	}
	return err
}

// credential is what a scan authenticates with.
type credential struct {
	cfg         authn.AuthConfig
	description string   // for errors: never a secret
	secrets     []string // values to scrub from messages
	invalidate  func()   // drops a cached provider credential; nil otherwise
}

func (c credential) anonymous() bool {
	return c.cfg == (authn.AuthConfig{})
}

// fingerprint identifies the credential in cache keys without holding it.
func (c credential) fingerprint() string {
	h := sha256.New()
	for _, s := range []string{c.cfg.Username, c.cfg.Password, c.cfg.Auth, c.cfg.IdentityToken, c.cfg.RegistryToken} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

var anonymousCredential = credential{description: "anonymous"}

// open prepares a session for t: it resolves the credential, pings the
// registry (cached per host) and sets up bearer or basic authentication.
func (s *Scanner) open(ctx context.Context, t Target, op string) (*session, error) {
	repo, err := parseImage(t.Image, t.Insecure)
	if err != nil {
		return nil, &Error{Op: op, msg: err.Error(), err: err}
	}
	reg := repo.Registry
	host := reg.RegistryStr()
	errs := &errorFactory{host: host, repo: repo.RepositoryStr(), now: s.o.clock.Now}
	if t.Proxy != nil {
		errs.secrets = append(errs.secrets, t.Proxy.Password)
	}
	if len(t.TLS.Key) > 0 {
		errs.secrets = append(errs.secrets, string(t.TLS.Key))
	}

	cred, err := s.resolveCredential(ctx, t, host)
	if err != nil {
		if t.Provider != "" && t.Provider != ProviderGeneric {
			errs.credential = string(t.Provider) + " provider"
		}
		return nil, errs.fromError(ctx, "getting credentials", err)
	}
	errs.credential = cred.description
	errs.secrets = append(errs.secrets, cred.secrets...)

	conn, connKey, err := s.connections(t)
	if err != nil {
		return nil, errs.fromError(ctx, op, err)
	}
	rt := s.roundTripper(conn, t.Insecure)

	ch, err := s.ping(ctx, reg, rt, connKey, t.Insecure)
	if err != nil {
		return nil, errs.fromError(ctx, "pinging registry", err)
	}
	forget := func() {
		s.forgetPing(reg, connKey, t.Insecure)
		if cred.invalidate != nil {
			cred.invalidate()
		}
	}
	scheme := "https"
	if ch.Insecure {
		scheme = "http"
	}

	var authRT http.RoundTripper
	switch {
	case strings.EqualFold(ch.Scheme, "bearer"):
		bt := &bearerTransport{
			s:       s,
			reg:     reg,
			cred:    cred,
			inner:   rt,
			ch:      ch,
			scopes:  []string{repo.Scope(transport.PullScope)},
			scheme:  scheme,
			baseKey: connKey,
		}
		if _, err := bt.token(ctx, false); err != nil {
			e := errs.fromError(ctx, "authenticating", err)
			if errors.Is(e, ErrUnauthorized) {
				forget()
			}
			return nil, e
		}
		authRT = bt
	case cred.anonymous():
		authRT = rt
	default:
		authRT = &basicTransport{inner: rt, cfg: cred.cfg, host: host, scheme: scheme}
	}
	return &session{
		repo:   repo,
		host:   host,
		scheme: scheme,
		client: &http.Client{Transport: authRT},
		errs:   errs,
		forget: forget,
	}, nil
}

// resolveCredential picks the scan's credential: explicit basic auth, else
// the first docker config entry (or helper) for the host, else the
// provider's, else anonymous.
func (s *Scanner) resolveCredential(ctx context.Context, t Target, host string) (credential, error) {
	if t.Auth.Username != "" || t.Auth.Password != "" {
		return credential{
			cfg:         authn.AuthConfig{Username: t.Auth.Username, Password: t.Auth.Password},
			description: fmt.Sprintf("basic auth as user %s", t.Auth.Username),
			secrets:     []string{t.Auth.Password},
		}, nil
	}
	for _, dc := range t.Auth.DockerConfigs {
		if dc == nil {
			continue
		}
		if helper := dc.helperFor(host); helper != "" {
			c, err := s.fromHelper(ctx, helper, host)
			if errors.Is(err, errNoHelperCredentials) {
				continue
			}
			return c, err
		}
		if key, a, ok := dc.lookupAuth(host); ok {
			return credential{
				cfg:         a.authConfig(),
				description: fmt.Sprintf("docker config entry for %s", key),
				secrets:     []string{a.Password, a.IdentityToken, a.RegistryToken},
			}, nil
		}
		if dc.CredsStore != "" {
			c, err := s.fromHelper(ctx, dc.CredsStore, host)
			if errors.Is(err, errNoHelperCredentials) {
				continue
			}
			return c, err
		}
	}
	switch t.Provider {
	case "", ProviderGeneric:
		return anonymousCredential, nil
	case ProviderAWS:
		return s.aws.credential(ctx, host)
	case ProviderGCP:
		return s.gcp.credential(ctx, host)
	case ProviderAzure:
		return s.azure.credential(ctx, host)
	}
	return credential{}, fmt.Errorf("%w: unknown provider %q (want generic, aws, gcp or azure)", ErrInvalid, t.Provider)
}

func (s *Scanner) fromHelper(ctx context.Context, helper, host string) (credential, error) {
	if !s.o.credentialHelpers {
		return credential{}, fmt.Errorf("%w: the docker config names credential helper %q for %s, and credential helpers are turned off", ErrInvalid, helper, host)
	}
	serverURL := host
	if normalizeRegistryKey(host) == "index.docker.io" {
		serverURL = "https://index.docker.io/v1/"
	}
	a, err := runCredentialHelper(ctx, helper, serverURL)
	if err != nil {
		return credential{}, err
	}
	return credential{
		cfg:         a.authConfig(),
		description: fmt.Sprintf("docker credential helper %s for %s", helper, host),
		secrets:     []string{a.Password, a.IdentityToken},
	}, nil
}

// How long a registry's ping answer (its auth challenge) is reused.
const pingTTL = 10 * time.Minute

type pingEntry struct {
	mu      sync.Mutex // held while pinging, so concurrent scans ping once
	ch      *transport.Challenge
	expires time.Time
}

// ping returns the registry's auth challenge, asking once per pingTTL per
// host and connection settings. Pings carry no credentials, so the answer
// is the same for every scan of the host.
func pingKey(reg name.Registry, connKey string, insecure bool) string {
	return fmt.Sprintf("%s|%s|%t", connKey, reg.RegistryStr(), insecure)
}

func (s *Scanner) forgetPing(reg name.Registry, connKey string, insecure bool) {
	s.mu.Lock()
	delete(s.pings, pingKey(reg, connKey, insecure))
	s.mu.Unlock()
}

func (s *Scanner) ping(ctx context.Context, reg name.Registry, rt http.RoundTripper, connKey string, insecure bool) (*transport.Challenge, error) {
	key := pingKey(reg, connKey, insecure)
	s.mu.Lock()
	e, ok := s.pings[key]
	if !ok {
		e = &pingEntry{}
		s.pings[key] = e
	}
	s.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := s.o.clock.Now()
	if e.ch != nil && now.Before(e.expires) {
		return e.ch, nil
	}
	ch, err := transport.Ping(ctx, reg, rt)
	if err != nil {
		return nil, pingError(err)
	}
	e.ch, e.expires = ch, now.Add(pingTTL)
	return ch, nil
}

// pingError picks the most telling error of a ping that tried https and
// http: a refusal of plain HTTP says less than why https failed.
func pingError(err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr
	}
	type multi interface{ Unwrap() []error }
	if m, ok := err.(multi); ok {
		for _, e := range m.Unwrap() {
			if !errors.Is(e, ErrInsecureRefused) {
				return e
			}
		}
	}
	return err
}

// tokenEntry is a cached bearer token.
type tokenEntry struct {
	token   string
	expires time.Time
}

// Bearer tokens without an expires_in live 60 seconds (the token spec's
// default). Tokens are dropped this long before they expire.
const (
	defaultTokenLifetime = 60 * time.Second
	tokenExpiryMargin    = 10 * time.Second
	maxCachedTokens      = 10_000
)

// bearerTransport sends a cached bearer token for the scan's repository and
// fetches a new one when the cache has none or the registry rejects it.
type bearerTransport struct {
	s       *Scanner
	reg     name.Registry
	cred    credential
	inner   http.RoundTripper
	ch      *transport.Challenge
	scopes  []string
	scheme  string
	baseKey string
}

func (bt *bearerTransport) cacheKey() string {
	return strings.Join([]string{bt.baseKey, bt.reg.RegistryStr(), bt.ch.Parameters["realm"],
		bt.ch.Parameters["service"], strings.Join(bt.scopes, " "), bt.cred.fingerprint()}, "|")
}

// token returns a valid token, from the cache unless fresh is set. Scans
// that need the same token at the same time (the first scans of a
// repository, say, or several rejected at once) share one exchange.
func (bt *bearerTransport) token(ctx context.Context, fresh bool) (string, error) {
	if bt.cred.cfg.RegistryToken != "" {
		return bt.cred.cfg.RegistryToken, nil
	}
	s := bt.s
	key := bt.cacheKey()
	for {
		s.mu.Lock()
		if e, ok := s.tokens[key]; ok && !fresh && s.o.clock.Now().Before(e.expires) {
			s.mu.Unlock()
			return e.token, nil
		}
		f, waiting := s.tokenFetches[key]
		if waiting {
			f.waiters++
		} else {
			f = &tokenFetch{done: make(chan struct{})}
			s.tokenFetches[key] = f
		}
		s.mu.Unlock()
		if !waiting {
			f.token, f.err = bt.exchange(ctx, key)
			s.mu.Lock()
			delete(s.tokenFetches, key)
			s.mu.Unlock()
			close(f.done)
			return f.token, f.err
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		// The exchange of a scan that was cancelled says nothing about
		// this one: try again.
		if f.err != nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) && ctx.Err() == nil {
			fresh = false
			continue
		}
		return f.token, f.err
	}
}

// tokenFetch is a token exchange under way, for the scans waiting on it.
type tokenFetch struct {
	done    chan struct{} // closed when token and err are set
	token   string
	err     error
	waiters int // scans that joined it (under Scanner.mu)
}

// exchangeToken asks a token server for a token (a variable for tests).
var exchangeToken = transport.Exchange

// exchange asks the token server for a token and caches it under key.
func (bt *bearerTransport) exchange(ctx context.Context, key string) (string, error) {
	s := bt.s
	auth := authn.FromConfig(bt.cred.cfg)
	if bt.cred.anonymous() {
		auth = authn.Anonymous
	}
	tok, err := exchangeToken(ctx, bt.reg, auth, bt.inner, bt.scopes, bt.ch)
	if err != nil {
		return "", err
	}
	value := tok.Token
	if value == "" {
		value = tok.AccessToken
	}
	life := defaultTokenLifetime
	if tok.ExpiresIn > 0 {
		life = time.Duration(tok.ExpiresIn) * time.Second
	}
	now := s.o.clock.Now()
	s.mu.Lock()
	if len(s.tokens) >= maxCachedTokens {
		for k, e := range s.tokens {
			if !now.Before(e.expires) {
				delete(s.tokens, k)
			}
		}
		if len(s.tokens) >= maxCachedTokens {
			clear(s.tokens)
		}
	}
	s.tokens[key] = tokenEntry{token: value, expires: now.Add(life - min(tokenExpiryMargin, life/2))}
	s.mu.Unlock()
	return value, nil
}

func (bt *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameHost(req.URL.Host, bt.reg.RegistryStr(), bt.scheme) {
		return bt.inner.RoundTrip(req)
	}
	tok, err := bt.token(req.Context(), false)
	if err != nil {
		return nil, err
	}
	resp, err := bt.inner.RoundTrip(withAuthorization(req, "Bearer "+tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !rewindable(req) || bt.cred.cfg.RegistryToken != "" {
		return resp, err
	}
	// The token expired early or was revoked: get a new one, once.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if tok, err = bt.token(req.Context(), true); err != nil {
		return nil, err
	}
	retry := withAuthorization(req, "Bearer "+tok)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return bt.inner.RoundTrip(retry)
}

// basicTransport adds the credential to requests for the registry host
// only (never to a redirect elsewhere).
type basicTransport struct {
	inner  http.RoundTripper
	cfg    authn.AuthConfig
	host   string
	scheme string
}

func (bt *basicTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameHost(req.URL.Host, bt.host, bt.scheme) {
		return bt.inner.RoundTrip(req)
	}
	switch {
	case bt.cfg.RegistryToken != "":
		req = withAuthorization(req, "Bearer "+bt.cfg.RegistryToken)
	case bt.cfg.Auth != "":
		req = withAuthorization(req, "Basic "+bt.cfg.Auth)
	case bt.cfg.Username != "" || bt.cfg.Password != "":
		raw := bt.cfg.Username + ":" + bt.cfg.Password
		req = withAuthorization(req, "Basic "+base64.StdEncoding.EncodeToString([]byte(raw)))
	}
	return bt.inner.RoundTrip(req)
}

func withAuthorization(req *http.Request, value string) *http.Request {
	out := req.Clone(req.Context())
	out.Header.Set("Authorization", value)
	return out
}

// sameHost compares two host[:port] strings, filling in the scheme's
// default port.
func sameHost(a, b, scheme string) bool {
	return canonicalHostPort(a, scheme) == canonicalHostPort(b, scheme)
}

func canonicalHostPort(h, scheme string) string {
	h = strings.ToLower(h)
	if host, port, err := net.SplitHostPort(h); err == nil {
		return net.JoinHostPort(host, port)
	}
	port := "443"
	if scheme == "http" {
		port = "80"
	}
	return net.JoinHostPort(strings.Trim(h, "[]"), port)
}
