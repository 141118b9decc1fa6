package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestRetryableStatus(t *testing.T) {
	for code, want := range map[int]bool{
		200: false, 400: false, 401: false, 403: false, 404: false, 405: false,
		408: true, 429: true, 500: true, 501: false, 502: true, 503: true, 504: true,
	} {
		if got := retryableStatus(code); got != want {
			t.Errorf("retryableStatus(%d) = %t, want %t", code, got, want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRetryableNetError(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"connection reset", context.Background(), &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"connection refused", context.Background(), fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"unexpected EOF", context.Background(), io.ErrUnexpectedEOF, true},
		{"timeout", context.Background(), &net.OpError{Op: "dial", Err: timeoutErr{}}, true},
		{"cancelled by the caller", done, &net.OpError{Op: "dial", Err: timeoutErr{}}, false},
		{"context cancelled", context.Background(), context.Canceled, false},
		{"plain HTTP refused", context.Background(), fmt.Errorf("x: %w", ErrInsecureRefused), false},
		{"other", context.Background(), errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := retryableNetError(tt.ctx, tt.err); got != tt.want {
			t.Errorf("retryableNetError(%s) = %t, want %t", tt.name, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestErrorMatching(t *testing.T) {
	err := fmt.Errorf("scanning apps/web: %w", &Error{Op: "listing tags", Host: "r.example", Repository: "a",
		StatusCode: 429, Retryable: true, RetryAfter: 30 * time.Second, Credential: "anonymous"})
	if !errors.Is(err, ErrRateLimited) || errors.Is(err, ErrNotFound) {
		t.Errorf("errors.Is on a wrapped 429 *Error: rate limited %t, not found %t", errors.Is(err, ErrRateLimited), errors.Is(err, ErrNotFound))
	}
	if !IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = false", err)
	}
	if d, ok := RetryAfter(err); !ok || d != 30*time.Second {
		t.Errorf("RetryAfter(%v) = %s, %t", err, d, ok)
	}
	want := "scanning apps/web: listing tags for r.example/a: HTTP 429 Too Many Requests [credential: anonymous] [retry after 30s]"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
