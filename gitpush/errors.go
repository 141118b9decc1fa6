package gitpush

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Sentinels for errors.Is on a run's error.
var (
	// ErrAuth: the remote refused the credentials (or asked for some).
	ErrAuth = errors.New("authentication failed")
	// ErrRefNotFound: the checkout ref does not exist on the remote.
	ErrRefNotFound = errors.New("ref not found")
	// ErrRemoteMoved: a push was rejected because the branch moved on the
	// remote, after every attempt.
	ErrRemoteMoved = errors.New("push rejected: the remote branch moved")
	// ErrPushRejected: the remote refused the push for another reason
	// (a hook, protection rule, or a non-fast-forward to a branch we may not
	// force).
	ErrPushRejected = errors.New("push rejected")
)

// Error is a failed step of a run. Its message names the step, the remote
// (without credentials) and the ref; any credential that reached a lower
// layer's message is replaced by "[redacted]".
type Error struct {
	Step   string // "resolving ref", "fetching", "pushing", ...
	Remote string
	Ref    string
	msg    string
	kinds  []error
}

func (e *Error) Error() string {
	ref := ""
	if e.Ref != "" {
		ref = " " + e.Ref
	}
	return fmt.Sprintf("%s %s%s: %s", e.Step, e.Remote, ref, e.msg)
}

// Is matches this package's sentinels, go-git's transport sentinels and
// context cancellation that the cause carried. The cause itself is not kept, so nothing unredacted can
// be reached through Unwrap.
func (e *Error) Is(target error) bool {
	for _, k := range e.kinds {
		if errors.Is(k, target) {
			return true
		}
	}
	return false
}

var knownKinds = []error{
	ErrAuth, ErrRefNotFound, ErrRemoteMoved, ErrPushRejected, ErrInsecureHTTP, ErrNoKnownHosts,
	transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed,
	transport.ErrRepositoryNotFound, transport.ErrEmptyRemoteRepository,
	context.Canceled, context.DeadlineExceeded,
}

func (c *conn) wrap(step, ref string, err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	e := &Error{Step: step, Remote: c.display, Ref: ref, msg: redact(err.Error(), c.secrets)}
	causes := goGitCauses(err)
	for _, k := range knownKinds {
		if slices.ContainsFunc(causes, func(c error) bool { return errors.Is(c, k) }) {
			e.kinds = append(e.kinds, k)
		}
	}
	var he *HTTPError
	if errors.As(err, &he) && (he.StatusCode == 401 || he.StatusCode == 403) {
		e.kinds = append(e.kinds, ErrAuth)
	}
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) ||
		strings.Contains(err.Error(), "unable to authenticate") {
		e.kinds = append(e.kinds, ErrAuth)
	}
	return e
}

// goGitCauses returns err and the errors inside go-git's
// plumbing.UnexpectedError and PermanentError in its chain, which have no
// Unwrap: go-git's HTTP transport wraps a failed fetch or push request in
// them, so without this a cancelled or timed-out fetch or push would not
// match context.Canceled or context.DeadlineExceeded.
func goGitCauses(err error) []error {
	causes := []error{err}
	for i := 0; i < len(causes) && i < 8; i++ {
		var ue *plumbing.UnexpectedError
		var pe *plumbing.PermanentError
		switch {
		case errors.As(causes[i], &ue) && ue.Err != nil:
			causes = append(causes, ue.Err)
		case errors.As(causes[i], &pe) && pe.Err != nil:
			causes = append(causes, pe.Err)
		}
	}
	return causes
}

func wrapNoConn(step, display string, secrets []string, err error) error {
	c := &conn{display: display, secrets: secrets}
	return c.wrap(step, "", err)
}

func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < 4 {
			continue
		}
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return msg
}
