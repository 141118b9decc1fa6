package gitpush

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Client runs automations against Git remotes. It owns a clone cache on
// local disk and an in-process cache of GitHub App tokens. A Client is safe
// for concurrent use; runs that share a cache entry take turns.
type Client struct {
	dir    string
	opts   options
	tokens tokenCache

	mu     sync.Mutex
	locks  map[string]*sync.Mutex
	agents map[string]agentConn // SSH agent connections by socket
}

type options struct {
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	now         func() time.Time
	httpClient  *http.Client
	maxPacks    int
	maxIncr     int
}

// Option configures a Client.
type Option func(*options)

// WithMaxAttempts bounds how often a run applies its change when pushes are
// rejected because the remote moved. Default 10.
func WithMaxAttempts(n int) Option { return func(o *options) { o.maxAttempts = n } }

// WithRetryBackoff sets the delay before the second attempt (base) and the
// cap of the exponentially growing delay; each delay is jittered to between
// half and all of its value. Default 100ms and 2s.
func WithRetryBackoff(base, max time.Duration) Option {
	return func(o *options) { o.backoffBase, o.backoffMax = base, max }
}

// WithClock sets the time source used for GitHub App tokens and commit
// dates. Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithHTTPClient sets the client used for REST APIs (GitHub App tokens and
// pull requests). Default: a client built per remote from its Auth (CA,
// client certificate, proxy) with a 30s timeout.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithMaxPacks sets how many pack files a cache entry may collect (one per
// fetch) before it is cloned afresh. Default 64.
func WithMaxPacks(n int) Option { return func(o *options) { o.maxPacks = n } }

// WithMaxIncrementalObjects bounds an incremental fetch: past this many
// objects (the remote no longer shares the cached history, say after a
// force-push) it is cancelled and a shallow fetch is made instead. Default
// 20000.
func WithMaxIncrementalObjects(n int) Option { return func(o *options) { o.maxIncr = n } }

func makeOptions(opts []Option) (options, error) {
	o := options{
		maxAttempts: 10,
		backoffBase: 100 * time.Millisecond,
		backoffMax:  2 * time.Second,
		now:         time.Now,
		maxPacks:    64,
		maxIncr:     20000,
	}
	for _, f := range opts {
		f(&o)
	}
	switch {
	case o.maxAttempts < 1:
		return o, errors.New("max attempts must be at least 1")
	case o.backoffBase < 0 || o.backoffMax < o.backoffBase:
		return o, errors.New("retry backoff: need 0 <= base <= max")
	case o.now == nil:
		return o, errors.New("clock must not be nil")
	case o.maxIncr < 1:
		return o, errors.New("max incremental objects must be at least 1")
	case o.maxPacks < 1:
		return o, errors.New("max packs must be at least 1")
	}
	return o, nil
}

// New returns a Client whose clone cache lives under cacheDir (created if
// missing). Cache entries are plain bare repositories plus a work tree;
// deleting the directory between runs is always safe.
func New(cacheDir string, opts ...Option) (*Client, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if cacheDir == "" {
		return nil, errors.New("cache directory is required")
	}
	abs, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	return &Client{dir: abs, opts: o, locks: make(map[string]*sync.Mutex)}, nil
}

func (c *Client) lock(key string) func() {
	c.mu.Lock()
	m, ok := c.locks[key]
	if !ok {
		m = &sync.Mutex{}
		c.locks[key] = m
	}
	c.mu.Unlock()
	m.Lock()
	return m.Unlock
}
