package gitpush

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultGitHubAPI is the REST API root of github.com.
const DefaultGitHubAPI = "https://api.github.com"

// tokenRefreshMargin: a cached installation token is replaced this long
// before it expires, so a token never expires during a run.
const tokenRefreshMargin = 5 * time.Minute

func parseRSAKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	blk, err := firstPEM(pemBytes)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA private key")
	}
	return rk, nil
}

// appJWT returns the RS256 JSON Web Token that authenticates as the app, as
// GitHub documents it: issued a minute in the past (clock drift), expiring
// after nine minutes (GitHub allows ten).
func appJWT(appID string, key *rsa.PrivateKey, now time.Time) (string, error) {
	var iss any = appID
	if n, err := strconv.ParseInt(appID, 10, 64); err == nil {
		iss = n
	}
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	claims, err := json.Marshal(map[string]any{
		"iat": now.Add(-time.Minute).Unix(),
		"exp": now.Add(9 * time.Minute).Unix(),
		"iss": iss,
	})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing app JWT: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

type appToken struct {
	value   string
	expires time.Time
}

// tokenCache holds installation tokens for one Client, keyed by API root,
// app and installation.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[string]appToken
}

func (app *GitHubApp) apiBase() string {
	if app.BaseURL == "" {
		return DefaultGitHubAPI
	}
	return strings.TrimRight(app.BaseURL, "/")
}

func (app *GitHubApp) cacheKey() string {
	sum := sha256.Sum256(app.PrivateKey)
	return fmt.Sprintf("%s|%s|%d|%s|%x", app.apiBase(), app.AppID, app.InstallationID, app.InstallationOwner, sum[:8])
}

// token returns a valid installation token, from the cache while it has
// more than tokenRefreshMargin left.
func (c *Client) appToken(ctx context.Context, app *GitHubApp, hc *http.Client) (string, error) {
	c.tokens.mu.Lock()
	defer c.tokens.mu.Unlock()
	key := app.cacheKey()
	now := c.opts.now()
	if t, ok := c.tokens.tokens[key]; ok && now.Before(t.expires.Add(-tokenRefreshMargin)) {
		return t.value, nil
	}
	t, err := fetchAppToken(ctx, app, hc, now)
	if err != nil {
		return "", err
	}
	if c.tokens.tokens == nil {
		c.tokens.tokens = make(map[string]appToken)
	}
	c.tokens.tokens[key] = t
	return t.value, nil
}

func fetchAppToken(ctx context.Context, app *GitHubApp, hc *http.Client, now time.Time) (appToken, error) {
	key, err := parseRSAKey(app.PrivateKey)
	if err != nil {
		return appToken{}, fmt.Errorf("reading GitHub App private key: %w", err)
	}
	jwt, err := appJWT(app.AppID, key, now)
	if err != nil {
		return appToken{}, err
	}
	base := app.apiBase()
	id := app.InstallationID
	if id == 0 {
		id, err = lookupInstallation(ctx, hc, base, jwt, app.InstallationOwner)
		if err != nil {
			return appToken{}, err
		}
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	u := fmt.Sprintf("%s/app/installations/%d/access_tokens", base, id)
	if err := githubCall(ctx, hc, http.MethodPost, u, jwt, nil, &out); err != nil {
		return appToken{}, fmt.Errorf("getting GitHub App installation token: %w", err)
	}
	if out.Token == "" {
		return appToken{}, errors.New("getting GitHub App installation token: empty token in response")
	}
	if out.ExpiresAt.IsZero() {
		out.ExpiresAt = now.Add(time.Hour)
	}
	return appToken{value: out.Token, expires: out.ExpiresAt}, nil
}

// lookupInstallation finds the app's installation on an organisation, then
// on a user account of that login.
func lookupInstallation(ctx context.Context, hc *http.Client, base, jwt, owner string) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	var last error
	for _, kind := range []string{"orgs", "users"} {
		u := fmt.Sprintf("%s/%s/%s/installation", base, kind, url.PathEscape(owner))
		err := githubCall(ctx, hc, http.MethodGet, u, jwt, nil, &out)
		if err == nil && out.ID != 0 {
			return out.ID, nil
		}
		var he *HTTPError
		if err != nil && !(errors.As(err, &he) && he.StatusCode == http.StatusNotFound) {
			return 0, fmt.Errorf("looking up GitHub App installation for %s: %w", owner, err)
		}
		last = err
	}
	return 0, fmt.Errorf("looking up GitHub App installation for %s: %w", owner, last)
}

// HTTPError is a REST API answer outside 2xx. Body holds at most 512 bytes
// of the answer, never the request.
type HTTPError struct {
	Method     string
	URL        string
	StatusCode int
	Body       string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// githubCall sends a JSON request with a bearer token and decodes the answer.
func githubCall(ctx context.Context, hc *http.Client, method, u, token string, in, out any) error {
	return restCall(ctx, hc, method, u, in, out, func(h http.Header) {
		h.Set("Authorization", "Bearer "+token)
		h.Set("Accept", "application/vnd.github+json")
		h.Set("X-GitHub-Api-Version", "2022-11-28")
	})
}

func restCall(ctx context.Context, hc *http.Client, method, u string, in, out any, auth func(http.Header)) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "dockhand")
	auth(req.Header)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &HTTPError{Method: method, URL: stripQuery(u), StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("decoding %s %s: %w", method, stripQuery(u), err)
	}
	return nil
}

func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
