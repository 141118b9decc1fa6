package scanner

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// Clock is the scanner's source of time. Tests pass one whose Sleep
// returns at once; production uses the real clock.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, returning ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// RetryPolicy bounds the retries of one HTTP request. Zero fields take the
// defaults shown on each.
type RetryPolicy struct {
	// Attempts is the total number of tries of one request, the first one
	// included. Default 4. Set 1 to turn retries off.
	Attempts int
	// BaseDelay is the backoff before the first retry; each later retry
	// doubles it, with jitter (a random delay between half and all of it).
	// Default 250ms.
	BaseDelay time.Duration
	// MaxDelay caps one backoff. Default 10s.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the scanner waits for; a
	// registry asking for longer gets no retry, and the error carries its
	// Retry-After for the caller to schedule the next scan. Default 60s.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 250 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 10 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 60 * time.Second
	}
	return p
}

// backoff is the delay before retry number n (1 for the first retry).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	return d/2 + rand.N(d/2+1)
}

// retryTransport retries requests that failed in a retryable way (see
// retryableStatus and retryableNetError) with bounded exponential backoff,
// honouring Retry-After. When the tries are used up it returns the last
// response or error for the caller to classify.
type retryTransport struct {
	base   http.RoundTripper
	policy RetryPolicy
	clock  Clock
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		try := req
		if attempt > 1 && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			try = req.Clone(ctx)
			try.Body = body
		}
		resp, err := t.base.RoundTrip(try)
		last := attempt >= t.policy.Attempts || !rewindable(req)
		var delay time.Duration
		switch {
		case err != nil:
			if last || !retryableNetError(ctx, err) {
				return nil, err
			}
			delay = t.policy.backoff(attempt)
		case retryableStatus(resp.StatusCode):
			if last {
				return resp, nil
			}
			delay = t.policy.backoff(attempt)
			if ra := parseRetryAfter(resp.Header.Get("Retry-After"), t.clock.Now()); ra > 0 {
				if ra > t.policy.MaxRetryAfter {
					return resp, nil
				}
				delay = ra
			}
			if deadline, ok := ctx.Deadline(); ok && t.clock.Now().Add(delay).After(deadline) {
				return resp, nil // the answer is final: no time left to wait
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		default:
			return resp, nil
		}
		if err := t.clock.Sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

func rewindable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}
