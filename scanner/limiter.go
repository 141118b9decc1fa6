package scanner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// Default per-host limits of a HostLimiter. They are generous enough that a
// thousand small repositories on one registry scan in a few seconds, and
// strict enough that a fleet of ImageRepositories never floods a registry.
const (
	// DefaultHostConcurrency is how many requests may be in flight to one
	// registry host at once.
	DefaultHostConcurrency = 16
	// DefaultHostRequestsPerSecond is the sustained request rate to one host.
	DefaultHostRequestsPerSecond = 200
	// DefaultHostBurst is how many requests may go out at once after a
	// quiet period, above the sustained rate.
	DefaultHostBurst = 50
)

// Limits are the per-host limits of a HostLimiter. A zero field takes the
// HostLimiter's default for it.
type Limits struct {
	// Concurrency caps the requests in flight to the host.
	Concurrency int
	// RequestsPerSecond caps the sustained request rate to the host.
	RequestsPerSecond float64
	// Burst is the number of requests allowed at once above the rate.
	Burst int
}

func (l Limits) orDefault(d Limits) Limits {
	if l.Concurrency <= 0 {
		l.Concurrency = d.Concurrency
	}
	if l.RequestsPerSecond <= 0 {
		l.RequestsPerSecond = d.RequestsPerSecond
	}
	if l.Burst <= 0 {
		l.Burst = d.Burst
	}
	return l
}

// HostLimiter paces HTTP requests per registry host: a cap on requests in
// flight and a token-bucket rate. One HostLimiter is shared by every scan of
// a process (give the same one to every Scanner with WithHostLimiter), so
// thousands of repositories on one registry queue politely while requests to
// other hosts go ahead: each host has its own queue and no lock is held
// while a request waits.
//
// Every HTTP request a scan makes counts: pings, token fetches, tag list
// pages, manifest requests and cloud provider token calls (keyed by the
// provider endpoint's host). A request holds its slot until its response
// body is closed.
type HostLimiter struct {
	defaults  Limits
	overrides map[string]Limits

	mu    sync.Mutex
	hosts map[string]*hostGate
}

type hostGate struct {
	slots    chan struct{}
	rate     *rate.Limiter
	requests atomic.Int64
}

// LimiterOption configures a HostLimiter.
type LimiterOption func(*limiterOptions)

type limiterOptions struct {
	defaults  Limits
	overrides map[string]Limits
}

// WithDefaultLimits sets the limits of every host without an override.
// Zero fields keep DefaultHostConcurrency, DefaultHostRequestsPerSecond and
// DefaultHostBurst.
func WithDefaultLimits(l Limits) LimiterOption {
	return func(o *limiterOptions) { o.defaults = l }
}

// WithHostLimits sets the limits of one host (as written in image
// references, with the port if there is one; matched without regard to
// case). Zero fields take the limiter's defaults. Default: no overrides.
func WithHostLimits(host string, l Limits) LimiterOption {
	return func(o *limiterOptions) {
		if o.overrides == nil {
			o.overrides = map[string]Limits{}
		}
		o.overrides[strings.ToLower(host)] = l
	}
}

// NewHostLimiter makes a HostLimiter.
func NewHostLimiter(opts ...LimiterOption) *HostLimiter {
	var o limiterOptions
	for _, opt := range opts {
		opt(&o)
	}
	builtin := Limits{
		Concurrency:       DefaultHostConcurrency,
		RequestsPerSecond: DefaultHostRequestsPerSecond,
		Burst:             DefaultHostBurst,
	}
	l := &HostLimiter{
		defaults:  o.defaults.orDefault(builtin),
		overrides: map[string]Limits{},
		hosts:     map[string]*hostGate{},
	}
	for h, lim := range o.overrides {
		l.overrides[h] = lim.orDefault(l.defaults)
	}
	return l
}

// LimitsFor returns the limits that apply to host.
func (l *HostLimiter) LimitsFor(host string) Limits {
	if lim, ok := l.overrides[strings.ToLower(host)]; ok {
		return lim
	}
	return l.defaults
}

func (l *HostLimiter) gate(host string) *hostGate {
	host = strings.ToLower(host)
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.hosts[host]
	if !ok {
		lim := l.LimitsFor(host)
		g = &hostGate{
			slots: make(chan struct{}, lim.Concurrency),
			rate:  rate.NewLimiter(rate.Limit(lim.RequestsPerSecond), lim.Burst),
		}
		l.hosts[host] = g
	}
	return g
}

// Acquire waits until a request to host may go out, or ctx is done. The
// caller must call release exactly once when the request is finished.
func (l *HostLimiter) Acquire(ctx context.Context, host string) (release func(), err error) {
	g := l.gate(host)
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a request slot for %s: %w", host, context.Cause(ctx))
	}
	if err := g.rate.Wait(ctx); err != nil {
		<-g.slots
		return nil, fmt.Errorf("waiting for the request rate of %s: %w", host, err)
	}
	g.requests.Add(1)
	var once sync.Once
	return func() { once.Do(func() { <-g.slots }) }, nil
}

// Requests returns how many requests to host have been let through.
func (l *HostLimiter) Requests(host string) int64 {
	l.mu.Lock()
	g, ok := l.hosts[strings.ToLower(host)]
	l.mu.Unlock()
	if !ok {
		return 0
	}
	return g.requests.Load()
}

// Transport wraps base so every request waits for its host's turn.
func (l *HostLimiter) Transport(base http.RoundTripper) http.RoundTripper {
	return &limitedTransport{limiter: l, base: base}
}

type limitedTransport struct {
	limiter *HostLimiter
	base    http.RoundTripper
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	release, err := t.limiter.Acquire(req.Context(), req.URL.Host)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		release()
		return nil, err
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		release()
		return resp, nil
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody frees the request's slot when the body is closed or read to
// the end, whichever comes first.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
