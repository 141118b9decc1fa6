package gitpush

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// go-git's HTTP transport wraps a failed request in errors without Unwrap;
// the kinds inside still count.
func TestWrapSeesThroughGoGitErrors(t *testing.T) {
	cn := &conn{display: "https://example.test/app.git", secrets: []string{"hunter2-pass"}}
	post := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://example.test/app.git/git-receive-pack", Err: err}
	}
	tests := []struct {
		name string
		err  error
		want []error
		not  []error
	}{
		{"unexpected, cancelled", plumbing.NewUnexpectedError(post(context.Canceled)), []error{context.Canceled}, []error{context.DeadlineExceeded}},
		{"unexpected, deadline", plumbing.NewUnexpectedError(post(context.DeadlineExceeded)), []error{context.DeadlineExceeded}, []error{context.Canceled}},
		{"permanent in a rejection", fmt.Errorf("%w: %w", ErrPushRejected, plumbing.NewPermanentError(context.Canceled)), []error{ErrPushRejected, context.Canceled}, nil},
		{"plain", errors.New("hunter2-pass went wrong"), nil, []error{context.Canceled, ErrPushRejected}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := cn.wrap("pushing", "main", tc.err)
			for _, k := range tc.want {
				if !errors.Is(err, k) {
					t.Errorf("errors.Is(wrap(%v), %v) = false, want true", tc.err, k)
				}
			}
			for _, k := range tc.not {
				if errors.Is(err, k) {
					t.Errorf("errors.Is(wrap(%v), %v) = true, want false", tc.err, k)
				}
			}
			if got := err.Error(); got == "" || errors.Unwrap(err) != nil || strings.Contains(got, "hunter2-pass") {
				t.Errorf("wrap(%v) = %q, want a message without the secret and no cause to unwrap", tc.err, got)
			}
		})
	}
}
