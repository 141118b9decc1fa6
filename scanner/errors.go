package scanner

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Sentinel errors. A *Error matches the status sentinels with errors.Is, so
// callers never need to look at status codes themselves.
var (
	// ErrUnauthorized: the registry answered 401 (no or wrong credentials).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the registry answered 403 (credentials lack access).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the registry answered 404 (no such repository or tag).
	ErrNotFound = errors.New("not found")
	// ErrRateLimited: the registry answered 429 and kept doing so after
	// every retry.
	ErrRateLimited = errors.New("rate limited")
	// ErrPagination: the registry's tag list pages misbehave: a link loop, a
	// page that adds nothing yet promises more, a link to another host.
	ErrPagination = errors.New("tag list pagination")
	// ErrTooManyTags: the repository has more tags (or pages) than the
	// scanner's limits allow; see WithMaxTags and WithMaxPages.
	ErrTooManyTags = errors.New("too many tags")
	// ErrInsecureRefused: plain HTTP was needed but the scan did not set
	// Insecure.
	ErrInsecureRefused = errors.New("plain HTTP refused: the repository is not marked insecure")
	// ErrProviderHost: a cloud provider's credential was requested for a
	// host that does not belong to that provider.
	ErrProviderHost = errors.New("host does not belong to the provider")
	// ErrInvalid: the request itself is wrong (bad image reference, bad
	// regexp, bad TLS material); retrying cannot help.
	ErrInvalid = errors.New("invalid scan request")
)

// Error is the one error type the scanner returns for a failed registry
// operation (wrapped with context by the caller as usual). It never holds a
// secret: Credential describes the credential used, not its value, and the
// message of the underlying cause is scrubbed of the scan's secrets.
type Error struct {
	// Op is what was being done: "listing tags", "resolving digest",
	// "authenticating", "pinging registry", "getting provider credentials".
	Op string
	// Host is the registry host (with port, when one was given).
	Host string
	// Repository is the repository path inside the registry.
	Repository string
	// StatusCode is the HTTP status of the failed response; 0 when there was
	// no response (network error, bad request, pagination error).
	StatusCode int
	// Code is the first error code in the registry's JSON error body, such
	// as "NAME_UNKNOWN" or "DENIED", when it sent one.
	Code string
	// Retryable reports whether the same request may succeed later (429,
	// 5xx, timeouts, connection resets). The scanner already retried it;
	// a caller should back off before scanning again.
	Retryable bool
	// RetryAfter is the registry's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Credential describes the credential used, e.g. "anonymous", "basic
	// auth as user alice" or "docker config entry for HOST".
	Credential string

	msg string // the cause's message, scrubbed of secrets
	err error  // the cause
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Host != "" {
		b.WriteString(" for ")
		b.WriteString(e.Host)
		if e.Repository != "" {
			b.WriteString("/")
			b.WriteString(e.Repository)
		}
	}
	b.WriteString(": ")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Code != "" {
			fmt.Fprintf(&b, " (%s)", e.Code)
		}
		if e.msg != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.msg)
	if e.Credential != "" {
		fmt.Fprintf(&b, " [credential: %s]", e.Credential)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " [retry after %s]", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.err }

// Is matches the status sentinels: ErrUnauthorized for 401, ErrForbidden
// for 403, ErrNotFound for 404, ErrRateLimited for 429.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// IsRetryable reports whether err (or anything it wraps) is a *Error that
// may succeed when tried again later.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

// RetryAfter returns the Retry-After the registry asked for, if err wraps a
// *Error that carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// retryableStatus is the one place that decides which HTTP statuses are
// worth retrying.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableNetError is the one place that decides which transport errors
// are worth retrying. ctx is the caller's context: when it is done the
// error is final whatever it looks like.
func retryableNetError(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	if errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr) {
		return false
	}
	if errors.Is(err, ErrInsecureRefused) || errors.Is(err, ErrInvalid) {
		return false
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// errorFactory builds *Error values for one scan, filling in what the scan
// knows (host, repository, credential) and scrubbing its secrets.
type errorFactory struct {
	host, repo string
	credential string
	secrets    []string
	now        func() time.Time
}

// fromResponse builds an error from a failed response and closes its body.
func (f *errorFactory) fromResponse(op string, resp *http.Response) *Error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	e := &Error{
		Op:         op,
		Host:       f.host,
		Repository: f.repo,
		StatusCode: resp.StatusCode,
		Retryable:  retryableStatus(resp.StatusCode),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), f.now()),
		Credential: f.credential,
	}
	code, detail := registryErrorBody(body)
	e.Code = code
	e.msg = f.scrub(detail)
	return e
}

// fromError classifies any other failure once.
func (f *errorFactory) fromError(ctx context.Context, op string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	e = &Error{
		Op:         op,
		Host:       f.host,
		Repository: f.repo,
		Credential: f.credential,
		err:        err,
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		e.StatusCode = terr.StatusCode
		e.Retryable = retryableStatus(terr.StatusCode) || terr.Temporary()
		if len(terr.Errors) > 0 {
			e.Code = string(terr.Errors[0].Code)
		}
	} else {
		// A scan that ran out of time may succeed next time; the retry
		// loop itself stops at the deadline.
		e.Retryable = retryableNetError(ctx, err) || errors.Is(err, context.DeadlineExceeded)
	}
	e.msg = f.scrub(err.Error())
	return e
}

// plain builds an error that is not about a response (pagination, limits).
func (f *errorFactory) plain(op string, err error) *Error {
	return &Error{
		Op: op, Host: f.host, Repository: f.repo, Credential: f.credential,
		msg: f.scrub(err.Error()), err: err,
	}
}

// scrub removes every secret of the scan from s. Secrets shorter than four
// bytes are not scrubbed (they would mangle ordinary words), which is one
// more reason never to put secrets in messages in the first place.
func (f *errorFactory) scrub(s string) string {
	for _, secret := range f.secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[REDACTED]")
		}
	}
	return s
}

// registryErrorBody extracts the first code and message from a registry's
// JSON error body ({"errors":[{"code":..,"message":..}]}). Bodies that are
// not JSON are summarised by their first line, at most 200 bytes.
func registryErrorBody(body []byte) (code, detail string) {
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &doc); err == nil && len(doc.Errors) > 0 {
		return doc.Errors[0].Code, doc.Errors[0].Message
	}
	s := strings.TrimSpace(string(body))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return "", s
}
