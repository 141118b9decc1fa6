package scanner

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// fastClock tells the real time but never sleeps: it records the backoff
// delays asked for, so retry tests take milliseconds.
type fastClock struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (c *fastClock) Now() time.Time { return time.Now() }

func (c *fastClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fastClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// newTestScanner makes a Scanner that never sleeps for backoff and whose
// limiter does not slow tests down.
func newTestScanner(t testing.TB, opts ...Option) (*Scanner, *fastClock) {
	t.Helper()
	clock := &fastClock{}
	base := []Option{
		WithClock(clock),
		WithHostLimiter(NewHostLimiter(WithDefaultLimits(Limits{Concurrency: 64, RequestsPerSecond: 1e6, Burst: 1e6}))),
	}
	s, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s, clock
}

// tagNames returns n distinct tags "prefix000000"... in ascending order.
func tagNames(prefix string, n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("%s%06d", prefix, i)
	}
	return tags
}

// insecureTarget scans a plain-HTTP fixture registry.
func insecureTarget(reg *registry.Registry, repo string) Target {
	return Target{Image: reg.Repo(repo), Insecure: true}
}

// tlsTarget scans a TLS fixture registry, trusting its CA.
func tlsTarget(reg *registry.Registry, repo string) Target {
	return Target{Image: reg.Repo(repo), TLS: TLSConfig{CA: reg.CACertPEM()}}
}

// countRequests counts the fixture's logged requests whose path has suffix.
func countRequests(reg *registry.Registry, method, suffix string) int {
	n := 0
	for _, r := range reg.Requests() {
		if r.Method == method && len(r.Path) >= len(suffix) && r.Path[len(r.Path)-len(suffix):] == suffix {
			n++
		}
	}
	return n
}

// steppingClock is a fastClock whose Now can be moved forward, to expire
// cached tokens without waiting.
type steppingClock struct {
	*fastClock
	mu     sync.Mutex
	offset time.Duration
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *steppingClock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}
