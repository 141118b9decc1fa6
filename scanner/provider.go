package scanner

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// WithAWS configures the aws provider. Default: the zero AWSOptions.
func WithAWS(o AWSOptions) Option {
	return func(opts *options) { opts.aws = o }
}

// WithGCP configures the gcp provider. Default: the zero GCPOptions.
func WithGCP(o GCPOptions) Option {
	return func(opts *options) { opts.gcp = o }
}

// WithAzure configures the azure provider. Default: the zero AzureOptions,
// completed from the environment when the Scanner is made.
func WithAzure(o AzureOptions) Option {
	return func(opts *options) { opts.azure = o }
}

// providerClient is the HTTP client for cloud provider endpoints (token
// services, metadata servers): system roots, the environment's proxy, the
// host limiter and retries. Plain HTTP is allowed: metadata servers speak
// nothing else.
func (s *Scanner) providerClient() (*http.Client, error) {
	conn, _, err := s.connections(Target{})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: s.roundTripper(conn, true), Timeout: 2 * s.o.requestTimeout}, nil
}

// credentialCache keeps one provider credential per key until shortly
// before it expires. Concurrent scans that need the same missing
// credential wait for one fetch instead of each making their own.
type credentialCache struct {
	mu      sync.Mutex
	entries map[string]*cachedCredential
}

type cachedCredential struct {
	mu         sync.Mutex
	cred       credential
	expires    time.Time
	generation int // counts fetches, so a stale invalidate is ignored
}

// expiryMargin is how long before its expiry a provider credential is
// replaced: a tenth of its life, at most 15 minutes.
func expiryMargin(life time.Duration) time.Duration {
	return min(15*time.Minute, life/10)
}

func (c *credentialCache) get(ctx context.Context, key string, now func() time.Time,
	fetch func(context.Context) (credential, time.Time, error)) (credential, error) {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*cachedCredential{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &cachedCredential{}
		c.entries[key] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	t := now()
	if t.Before(e.expires) {
		return e.cred, nil
	}
	cred, expires, err := fetch(ctx)
	if err != nil {
		return credential{}, err
	}
	e.generation++
	gen := e.generation
	cred.invalidate = func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.generation == gen {
			e.expires = time.Time{}
		}
	}
	e.cred = cred
	e.expires = expires.Add(-expiryMargin(expires.Sub(t)))
	return cred, nil
}
