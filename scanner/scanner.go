package scanner

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Defaults of a Scanner, each changed by the option named beside it.
const (
	DefaultPageSize       = 1000             // WithPageSize
	FallbackPageSize      = 100              // used when a registry answers 400 to a larger n
	DefaultMaxTags        = 500_000          // WithMaxTags
	DefaultMaxPages       = 10_000           // WithMaxPages
	DefaultRequestTimeout = 60 * time.Second // WithRequestTimeout
	DefaultUserAgent      = "dockhand"       // WithUserAgent
)

// DefaultExclusionList is the exclusion list of a Target whose
// ExclusionList is nil: cosign signature tags.
var DefaultExclusionList = []string{`^.*\.sig$`}

// Provider names a cloud provider whose workload identity supplies the
// registry credentials of a scan.
type Provider string

// The providers. The empty Provider is ProviderGeneric.
const (
	ProviderGeneric Provider = "generic"
	ProviderAWS     Provider = "aws"
	ProviderGCP     Provider = "gcp"
	ProviderAzure   Provider = "azure"
)

// Target is what to scan and how to reach it: plain values, so callers map
// their own objects (an ImageRepository and its Secrets) onto it. The zero
// value of every field but Image is usable.
type Target struct {
	// Image is the repository, e.g. "ghcr.io/org/app" or
	// "registry.local:5000/team/app". A tag or digest is ignored. Docker
	// Hub's short forms ("nginx") are expanded.
	Image string
	// Auth holds explicit credentials. Empty: the provider's, else none.
	Auth Auth
	// Provider gets credentials from a cloud provider's workload identity
	// when Auth has none for the registry. Empty means ProviderGeneric (no
	// provider).
	Provider Provider
	// TLS adds CA certificates and a client certificate.
	TLS TLSConfig
	// Proxy routes the scan through a proxy. Nil: the environment's proxy.
	Proxy *Proxy
	// Insecure allows plain HTTP. The scanner tries HTTPS first and never
	// uses HTTP without it, even for localhost.
	Insecure bool
	// Timeout bounds the whole scan (all pages and retries). Zero: only the
	// context's deadline.
	Timeout time.Duration
	// ExclusionList holds regular expressions; tags matching any are
	// dropped. Nil means DefaultExclusionList; an empty non-nil list
	// excludes nothing.
	ExclusionList []string
}

// Auth is the explicit credentials of a scan.
type Auth struct {
	// Username and Password are basic credentials for the registry. They
	// win over DockerConfigs.
	Username, Password string
	// DockerConfigs are searched in order for an entry for the registry
	// (an ImageRepository's secretRef, then its service account's
	// imagePullSecrets).
	DockerConfigs []*DockerConfig
}

// Scanner lists tags and resolves digests. It holds what is worth sharing
// between scans: connections (per TLS and proxy settings), registry ping
// results, bearer tokens until they expire, provider tokens, and the
// HostLimiter. Make one per process and use it from any goroutine.
type Scanner struct {
	o options

	mu         sync.Mutex
	transports map[string]*http.Transport
	pings      map[string]*pingEntry
	tokens     map[string]tokenEntry
	// tokenFetches are the token exchanges under way, by cache key.
	tokenFetches map[string]*tokenFetch
	smallPages   map[string]bool // hosts that answered 400 to a large n

	aws   *awsProvider
	gcp   *gcpProvider
	azure *azureProvider
}

// Option configures a Scanner.
type Option func(*options)

type options struct {
	limiter           *HostLimiter
	retry             RetryPolicy
	clock             Clock
	pageSize          int
	maxTags           int
	maxPages          int
	requestTimeout    time.Duration
	userAgent         string
	dial              DialContextFunc
	credentialHelpers bool
	aws               AWSOptions
	gcp               GCPOptions
	azure             AzureOptions
	observe           RequestObserver

	errs []error
}

// RequestObserver is told about every HTTP request a Scanner sends (token
// requests and retries included) once it is answered: the registry host
// and the response's status code, 0 when no response came. It is called
// from many goroutines and must be quick; metrics are its use.
type RequestObserver func(host string, code int)

// WithRequestObserver calls f for every request. Default: none.
func WithRequestObserver(f RequestObserver) Option {
	return func(o *options) { o.observe = f }
}

// WithHostLimiter shares limiter with other Scanners (and every scan of
// this one). Default: a HostLimiter of this Scanner's own, with the default
// limits.
func WithHostLimiter(l *HostLimiter) Option {
	return func(o *options) { o.limiter = l }
}

// WithRetryPolicy sets how failed requests are retried. Default: the zero
// RetryPolicy, whose fields document their defaults (4 tries, 250ms
// doubling to at most 10s, Retry-After honoured up to 60s).
func WithRetryPolicy(p RetryPolicy) Option {
	return func(o *options) { o.retry = p }
}

// WithClock sets the source of time for backoff and token expiry.
// Default: the real clock.
func WithClock(c Clock) Option {
	return func(o *options) { o.clock = c }
}

// WithPageSize sets the n asked for on each tag list page. Default
// DefaultPageSize (1000); a registry that answers 400 to it is asked for
// FallbackPageSize (100) from then on.
func WithPageSize(n int) Option {
	return func(o *options) {
		if n < 1 || n > 10_000 {
			o.errs = append(o.errs, fmt.Errorf("WithPageSize(%d): want 1 to 10000", n))
		}
		o.pageSize = n
	}
}

// WithMaxTags stops a scan with ErrTooManyTags when a repository has more
// tags. Default DefaultMaxTags (500,000).
func WithMaxTags(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.errs = append(o.errs, fmt.Errorf("WithMaxTags(%d): want at least 1", n))
		}
		o.maxTags = n
	}
}

// WithMaxPages stops a scan with ErrTooManyTags after this many pages.
// Default DefaultMaxPages (10,000).
func WithMaxPages(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.errs = append(o.errs, fmt.Errorf("WithMaxPages(%d): want at least 1", n))
		}
		o.maxPages = n
	}
}

// WithRequestTimeout bounds the wait for one response's headers; a request
// that times out is retried. Default DefaultRequestTimeout (60s).
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			o.errs = append(o.errs, fmt.Errorf("WithRequestTimeout(%s): want a positive duration", d))
		}
		o.requestTimeout = d
	}
}

// WithUserAgent sets the User-Agent header. Default DefaultUserAgent.
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

// WithDialContext replaces the dialer, for tests that serve a registry
// host name from a local listener and for split-horizon networks. Default:
// a net.Dialer with a 30s timeout.
func WithDialContext(dial DialContextFunc) Option {
	return func(o *options) { o.dial = dial }
}

// WithCredentialHelpers lets docker configs name credential helpers
// (credHelpers, credsStore), which runs docker-credential-NAME programs
// from PATH. Turn it on for configs the user owns (a CLI's own docker
// config), never for configs from Secrets that other people write.
// Default: off; a config entry naming a helper is then an error.
func WithCredentialHelpers(on bool) Option {
	return func(o *options) { o.credentialHelpers = on }
}

func makeOptions(opts ...Option) (options, error) {
	o := options{
		clock:          realClock{},
		pageSize:       DefaultPageSize,
		maxTags:        DefaultMaxTags,
		maxPages:       DefaultMaxPages,
		requestTimeout: DefaultRequestTimeout,
		userAgent:      DefaultUserAgent,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.limiter == nil {
		o.limiter = NewHostLimiter()
	}
	if o.clock == nil {
		o.errs = append(o.errs, errors.New("WithClock(nil)"))
	}
	o.retry = o.retry.withDefaults()
	if err := errors.Join(o.errs...); err != nil {
		return options{}, fmt.Errorf("configuring scanner: %w", err)
	}
	return o, nil
}

// New makes a Scanner.
func New(opts ...Option) (*Scanner, error) {
	o, err := makeOptions(opts...)
	if err != nil {
		return nil, err
	}
	s := &Scanner{
		o:            o,
		transports:   map[string]*http.Transport{},
		pings:        map[string]*pingEntry{},
		tokens:       map[string]tokenEntry{},
		tokenFetches: map[string]*tokenFetch{},
		smallPages:   map[string]bool{},
	}
	s.aws = newAWSProvider(s, o.aws)
	s.gcp = newGCPProvider(s, o.gcp)
	s.azure = newAzureProvider(s, o.azure)
	return s, nil
}

// Close drops idle connections. The Scanner stays usable.
func (s *Scanner) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.transports {
		t.CloseIdleConnections()
	}
}

// HostLimiter returns the limiter the Scanner's requests go through.
func (s *Scanner) HostLimiter() *HostLimiter { return s.o.limiter }

// maxCachedTransports bounds the per-settings connection pools. Past it,
// an arbitrary pool is dropped (its connections close when idle).
const maxCachedTransports = 256

// connections returns the shared http.Transport for the settings of t.
func (s *Scanner) connections(t Target) (*http.Transport, string, error) {
	key := transportKey(t.TLS, t.Proxy)
	s.mu.Lock()
	defer s.mu.Unlock()
	if tr, ok := s.transports[key]; ok {
		return tr, key, nil
	}
	tr, err := newHTTPTransport(t.TLS, t.Proxy, s.o.dial, s.o.requestTimeout)
	if err != nil {
		return nil, "", err
	}
	if len(s.transports) >= maxCachedTransports {
		for k, old := range s.transports {
			old.CloseIdleConnections()
			delete(s.transports, k)
			break
		}
	}
	s.transports[key] = tr
	return tr, key, nil
}

// roundTripper builds the per-scan stack under authentication:
// retries → scheme guard → host limiter → user agent → connections.
func (s *Scanner) roundTripper(conn http.RoundTripper, insecure bool) http.RoundTripper {
	var rt http.RoundTripper = &userAgent{base: conn, ua: s.o.userAgent}
	if s.o.observe != nil {
		rt = &observed{base: rt, observe: s.o.observe}
	}
	rt = s.o.limiter.Transport(rt)
	rt = &schemeGuard{base: rt, insecure: insecure}
	return &retryTransport{base: rt, policy: s.o.retry, clock: s.o.clock}
}

// parseImage parses a Target's image into a repository, keeping any port.
func parseImage(image string, insecure bool) (name.Repository, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(image, opts...)
	if err != nil {
		repo, rerr := name.NewRepository(image, opts...)
		if rerr != nil {
			return name.Repository{}, fmt.Errorf("%w: image %q: %v", ErrInvalid, image, err)
		}
		return repo, nil
	}
	return ref.Context(), nil
}
