package gitpush

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// PushOptions says where a commit goes, as Flux's spec.git.push does.
type PushOptions struct {
	// Branch to push to. Empty: the checkout branch, fast-forward only and
	// never forced. Otherwise the branch is (re)built from the checkout
	// branch plus the one commit, and force-updated because it belongs to the
	// automation (see NoForce).
	Branch string
	// Refspec is pushed in addition, e.g. "HEAD:refs/for/main" or
	// "+refs/heads/main:refs/heads/auto". Its source may be HEAD, the checkout
	// branch or Branch, and means the new commit.
	Refspec string
	// Options are push options, each sent as "key=value" (git push -o),
	// an empty value as "key=", as Flux sends them. The remote must
	// advertise push-options (receive.advertisePushOptions); otherwise they
	// are not sent.
	Options map[string]string
	// NoForce pushes Branch only as a fast-forward, so an existing branch
	// with other commits is left alone and the push fails. Default false.
	NoForce bool
}

const outRef = plumbing.ReferenceName("refs/dockhand/out")

// pushPlan is the refspecs of one push and which of them is the checkout
// branch, guarded against concurrent updates.
type pushPlan struct {
	specs      []config.RefSpec
	require    []config.RefSpec
	targets    []string
	guarded    bool
	pushBranch string
}

// planPush works out the refspecs. It is pure.
func planPush(p PushOptions, checkoutBranch string, parent plumbing.Hash) (pushPlan, error) {
	var plan pushPlan
	branch := p.Branch
	if branch == "" {
		if checkoutBranch == "" {
			return plan, errors.New("the checkout is not a branch: set push.branch")
		}
		branch = checkoutBranch
	}
	dst := plumbing.NewBranchReferenceName(branch)
	if branch == checkoutBranch {
		// compare-and-swap: the remote branch must still be the parent
		plan.specs = append(plan.specs, config.RefSpec("+"+outRef.String()+":"+dst.String()))
		plan.require = append(plan.require, config.RefSpec(parent.String()+":"+dst.String()))
		plan.guarded = true
	} else {
		force := "+"
		if p.NoForce {
			force = ""
		}
		plan.specs = append(plan.specs, config.RefSpec(force+outRef.String()+":"+dst.String()))
		plan.pushBranch = dst.String()
	}
	plan.targets = append(plan.targets, dst.String())
	if p.Refspec != "" {
		spec, target, err := mapRefspec(p.Refspec, checkoutBranch, branch)
		if err != nil {
			return plan, err
		}
		plan.specs = append(plan.specs, spec)
		plan.targets = append(plan.targets, target)
	}
	for _, s := range plan.specs {
		if err := s.Validate(); err != nil {
			return plan, fmt.Errorf("refspec %s: %w", s, err)
		}
	}
	return plan, nil
}

func mapRefspec(spec, checkoutBranch, pushBranch string) (config.RefSpec, string, error) {
	force := strings.HasPrefix(spec, "+")
	spec = strings.TrimPrefix(spec, "+")
	src, dst, ok := strings.Cut(spec, ":")
	if !ok || src == "" || dst == "" || strings.Contains(spec, "*") {
		return "", "", fmt.Errorf("push refspec %q: want [+]SRC:DST without wildcards", spec)
	}
	allowed := map[string]bool{"HEAD": true}
	for _, b := range []string{checkoutBranch, pushBranch} {
		if b != "" {
			allowed[b] = true
			allowed["refs/heads/"+b] = true
		}
	}
	if !allowed[src] {
		return "", "", fmt.Errorf("push refspec %q: source must be HEAD or the checkout or push branch", spec)
	}
	if !strings.HasPrefix(dst, "refs/") {
		dst = "refs/heads/" + dst
	}
	out := outRef.String() + ":" + dst
	if force {
		out = "+" + out
	}
	return config.RefSpec(out), dst, nil
}

// errRetry marks a push rejected because the guarded branch moved.
var errRetry = errors.New("remote branch moved")

// push sends rec.Commit and returns the commit the targets now hold (an
// earlier identical one when the push branch already had this change on
// this parent) and the refs updated. remoteRefs are the refs the run
// resolved against.
func (e *entry) push(ctx context.Context, cn *conn, p PushOptions, plan pushPlan, rec pushRecord, remoteRefs map[plumbing.ReferenceName]plumbing.Hash) (plumbing.Hash, []string, error) {
	specs := plan.specs
	targets := plan.targets
	if plan.pushBranch != "" {
		prev, ok := e.st.Pushed[plan.pushBranch]
		cur := remoteRefs[plumbing.ReferenceName(plan.pushBranch)]
		if ok && prev.Parent == rec.Parent && prev.Tree == rec.Tree && cur == prev.Commit && !cur.IsZero() {
			// the push branch already holds this change on this parent:
			// keep that commit (for the refspec too) and push nothing new
			specs, targets = specs[1:], targets[1:]
			rec.Commit = prev.Commit
		}
	}
	// drop refs the remote already has at this commit
	var keepSpecs []config.RefSpec
	var keepTargets []string
	for i, s := range specs {
		if remoteRefs[plumbing.ReferenceName(targets[i])] != rec.Commit {
			keepSpecs, keepTargets = append(keepSpecs, s), append(keepTargets, targets[i])
		}
	}
	specs, targets = keepSpecs, keepTargets
	if len(specs) == 0 {
		return rec.Commit, nil, nil
	}
	if err := e.repo.Storer.SetReference(plumbing.NewHashReference(outRef, rec.Commit)); err != nil {
		return rec.Commit, nil, err
	}
	said := &remoteMessages{}
	err := cn.exchange(ctx, func(ctx context.Context) error {
		return e.repo.PushContext(ctx, &git.PushOptions{
			RemoteName: "origin", RemoteURL: cn.url, RefSpecs: specs, RequireRemoteRefs: plan.require,
			Auth: cn.auth, CABundle: cn.caBundle, ClientCert: cn.clientCert, ClientKey: cn.clientKey,
			ProxyOptions: cn.proxy, Options: p.Options, Progress: said,
		})
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		err = nil
	}
	if err != nil {
		if msg := said.summary(); msg != "" {
			// What a server's hooks print is often the only reason given
			// (a protected branch, a required review, a size limit).
			err = fmt.Errorf("%w; the remote said: %s", err, msg)
		}
		return rec.Commit, nil, classifyPush(err, plan.guarded)
	}
	if plan.pushBranch != "" {
		e.st.Pushed[plan.pushBranch] = rec
	}
	return rec.Commit, targets, nil
}

func classifyPush(err error, guarded bool) error {
	msg := err.Error()
	moved := strings.Contains(msg, "required to be") || strings.Contains(msg, "fetch first") ||
		strings.Contains(msg, "non-fast-forward") || strings.Contains(msg, "failed to update ref") ||
		strings.Contains(msg, "failed to lock") || strings.Contains(msg, "cannot lock ref") ||
		strings.Contains(msg, "stale info") || strings.Contains(msg, "object not found")
	if moved && guarded {
		return fmt.Errorf("%w: %w", errRetry, err)
	}
	if moved || strings.Contains(msg, "declined") || strings.Contains(msg, "rejected") || strings.Contains(msg, "protected") {
		return fmt.Errorf("%w: %w", ErrPushRejected, err)
	}
	return err
}

// remoteMessages keeps the messages a server sends while receiving a push
// (git prints them after "remote: "), without its progress counters, up to
// a bound.
type remoteMessages struct {
	buf       []byte
	truncated bool
}

const maxRemoteMessages = 2 << 10

func (m *remoteMessages) Write(p []byte) (int, error) {
	if room := maxRemoteMessages - len(m.buf); room < len(p) {
		m.buf = append(m.buf, p[:max(room, 0)]...)
		m.truncated = true
	} else {
		m.buf = append(m.buf, p...)
	}
	return len(p), nil
}

// summary returns the messages as one line: each line of text once, the
// counters git servers print while they work ("Resolving deltas: 50%")
// left out.
func (m *remoteMessages) summary() string {
	var keep []string
	for _, line := range strings.FieldsFunc(string(m.buf), func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "remote:"))
		if line == "" || isProgress(line) || slices.Contains(keep, line) {
			continue
		}
		keep = append(keep, strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return -1 // no terminal control sequences in statuses and logs
			}
			return r
		}, line))
	}
	s := strings.Join(keep, " / ")
	if m.truncated && s != "" {
		s += " …"
	}
	return s
}

// isProgress reports whether a line is one of git's progress counters.
func isProgress(line string) bool {
	for _, p := range []string{"Resolving deltas", "Counting objects", "Compressing objects", "Writing objects",
		"Enumerating objects", "Total ", "Unpacking objects", "Processing"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}
