package scanner

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

func TestHostLimiterLimits(t *testing.T) {
	l := NewHostLimiter(
		WithDefaultLimits(Limits{Concurrency: 3}),
		WithHostLimits("Slow.Example:5000", Limits{Concurrency: 1, RequestsPerSecond: 2}),
	)
	tests := []struct {
		host string
		want Limits
	}{
		{host: "other.example", want: Limits{Concurrency: 3, RequestsPerSecond: DefaultHostRequestsPerSecond, Burst: DefaultHostBurst}},
		{host: "slow.example:5000", want: Limits{Concurrency: 1, RequestsPerSecond: 2, Burst: DefaultHostBurst}},
	}
	for _, tt := range tests {
		if got := l.LimitsFor(tt.host); got != tt.want {
			t.Errorf("LimitsFor(%s) = %+v, want %+v", tt.host, got, tt.want)
		}
	}
}

func TestHostLimiterConcurrencyIsPerHost(t *testing.T) {
	l := NewHostLimiter(WithDefaultLimits(Limits{Concurrency: 2, RequestsPerSecond: 1e6, Burst: 1e6}))
	ctx := t.Context()
	var held []func()
	for range 2 {
		release, err := l.Acquire(ctx, "busy.example")
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		held = append(held, release)
	}
	// A third request to the busy host waits...
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(short, "busy.example"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third Acquire(busy.example) = %v, want it to wait until the deadline", err)
	}
	// ...while another host goes ahead at once.
	release, err := l.Acquire(ctx, "idle.example")
	if err != nil {
		t.Fatalf("Acquire(idle.example) while busy.example is full: %v", err)
	}
	release()
	held[0]()
	held[0]() // releasing twice frees one slot only
	release, err = l.Acquire(ctx, "busy.example")
	if err != nil {
		t.Fatalf("Acquire(busy.example) after a release: %v", err)
	}
	release()
	held[1]()
}

// A registry that hangs must not hold up scans of other registries, even
// when both share one limiter whose slots for the slow host are all taken.
func TestSlowRegistryDoesNotStarveOthers(t *testing.T) {
	slow := registry.Start(t)
	fast := registry.Start(t)
	slow.PushTags(t, "a/b", "1")
	fast.PushTags(t, "a/b", "1")
	hang := slow.InjectFault(registry.Fault{Path: regexp.MustCompile(`/tags/list$`), Delay: time.Minute})

	limiter := NewHostLimiter(WithDefaultLimits(Limits{Concurrency: 2, RequestsPerSecond: 1e6, Burst: 1e6}))
	s, _ := newTestScanner(t, WithHostLimiter(limiter))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _, _ = s.ListTags(ctx, insecureTarget(slow, "a/b")) })
	}
	if err := hang.WaitHits(t.Context(), 2); err != nil {
		t.Fatalf("waiting for the slow registry's slots to fill: %v", err)
	}
	for i := range 20 {
		if _, err := s.ListTags(t.Context(), insecureTarget(fast, "a/b")); err != nil {
			t.Fatalf("scan %d of the fast registry: %v", i, err)
		}
	}
	if got := hang.Hits(); got != 2 {
		t.Errorf("requests in flight to the slow registry = %d, want the limit 2", got)
	}
	cancel()
	wg.Wait()
}

func TestLimiterCountsEveryRequest(t *testing.T) {
	reg := registry.Start(t, registry.WithTLS(), registry.WithTokenAuth("ci", "ci-pw"))
	reg.PushTags(t, "team/app", tagNames("t", 30)...)
	limiter := NewHostLimiter(WithDefaultLimits(Limits{RequestsPerSecond: 1e6, Burst: 1e6}))
	s, _ := newTestScanner(t, WithHostLimiter(limiter), WithPageSize(10))
	tg := tlsTarget(reg, "team/app")
	tg.Auth = Auth{Username: "ci", Password: "ci-pw"}
	if _, err := s.ListTags(t.Context(), tg); err != nil {
		t.Fatalf("ListTags: %v", err)
	}
	// ping, token, three full pages and the empty one after them
	served := len(reg.Requests())
	if got := limiter.Requests(reg.Host()); got != int64(served) || served != 6 {
		t.Errorf("limiter counted %d requests, registry served %d; want 6 and 6", got, served)
	}
}

func TestLimiterRateIsShared(t *testing.T) {
	// 30 requests at 100/s with a burst of 10 take at least 0.2s whichever
	// goroutines make them. Only a lower bound is asserted.
	l := NewHostLimiter(WithDefaultLimits(Limits{Concurrency: 30, RequestsPerSecond: 100, Burst: 10}))
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			release, err := l.Acquire(t.Context(), "r.example")
			if err != nil {
				t.Errorf("Acquire %d: %v", i, err)
				return
			}
			release()
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("30 requests at 100/s (burst 10) took %s, want at least 0.15s", d)
	}
}

func ExampleHostLimiter() {
	// One limiter for the whole process, shared by every Scanner.
	limiter := NewHostLimiter(
		WithDefaultLimits(Limits{Concurrency: 8, RequestsPerSecond: 50}),
		WithHostLimits("registry.internal:5000", Limits{Concurrency: 32, RequestsPerSecond: 500}),
	)
	s, err := New(WithHostLimiter(limiter))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println(limiter.LimitsFor("registry.internal:5000").Concurrency)
	// Output: 32
}

func TestRequestObserverSeesEveryRequest(t *testing.T) {
	reg := registry.Start(t, registry.WithTLS(), registry.WithTokenAuth("ci", "ci-pw"))
	reg.PushTags(t, "team/app", tagNames("t", 30)...)
	var mu sync.Mutex
	codes := map[string]int{}
	observe := func(host string, code int) {
		mu.Lock()
		defer mu.Unlock()
		codes[fmt.Sprintf("%s %d", host, code)]++
	}
	s, _ := newTestScanner(t, WithRequestObserver(observe), WithPageSize(10))
	tg := tlsTarget(reg, "team/app")
	tg.Auth = Auth{Username: "ci", Password: "ci-pw"}
	if _, err := s.ListTags(t.Context(), tg); err != nil {
		t.Fatalf("ListTags: %v", err)
	}
	// The ping is answered 401 (the challenge); the token and the four
	// pages 200.
	want := map[string]int{reg.Host() + " 401": 1, reg.Host() + " 200": 5}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("observed requests (-want +got):\n%s", diff)
	}
}
