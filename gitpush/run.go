package gitpush

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ChangeFunc makes the change in the work tree and returns the commit
// message. It may run more than once in a run: when a push is rejected
// because the branch moved, the work tree is reset to the new head and the
// function runs again. It must only change files under the sparse paths of
// wt.Dir.
type ChangeFunc func(ctx context.Context, wt Worktree) (Change, error)

// Change is what a ChangeFunc did.
type Change struct {
	// Message is the commit message.
	Message string
	// Files, when not nil, lists every file (slash-separated, relative to
	// Worktree.Dir) the function created, modified or removed; only those are
	// examined. Nil: every file of the sparse paths is examined (a stat
	// each, a read for those whose stat changed). An empty non-nil list
	// says nothing changed.
	Files []string
}

// Worktree is what a ChangeFunc works on.
type Worktree struct {
	// Dir holds the files of the sparse paths at Head. Files outside the
	// sparse paths are absent and are kept as they are in the commit.
	Dir string
	// Head is the commit checked out.
	Head string
	// ChangedPaths lists the files (slash-separated, relative to Dir) that
	// changed upstream since the last commit this cache entry saw, within
	// the sparse paths. Nil means unknown (first run): treat all as changed.
	ChangedPaths []string
	// Attempt counts from 1.
	Attempt int
}

// Request is one automation run.
type Request struct {
	Remote   Remote
	Checkout Checkout
	// Paths are the directories to check out (sparse); empty means all.
	Paths []string
	// SkipIfHead: when the checkout resolves to this commit, the run ends
	// after the ref lookup with Result.Skipped. Set it to the last commit
	// the automation saw when its policies have not changed since.
	SkipIfHead string
	Commit     CommitOptions
	Push       PushOptions
	Change     ChangeFunc
}

// Result is what a run did.
type Result struct {
	// Head is the checkout commit the change was applied on.
	Head string
	// Branch is the branch checked out, when the checkout is a branch (the
	// remote's default branch included); empty for tags and commits.
	Branch string
	// Skipped: the head equalled Request.SkipIfHead; nothing else was done.
	Skipped bool
	// Commit is the new commit, empty when nothing changed.
	Commit string
	// Pushed lists the remote refs updated; empty when the push branch
	// already held the same change.
	Pushed []string
	// Attempts the change took (1 unless pushes were rejected).
	Attempts int
	// ChangedPaths as given to the last ChangeFunc call.
	ChangedPaths []string
}

// Run checks out the remote (from the cache when it can), applies the
// change and pushes a commit if anything changed.
func (c *Client) Run(ctx context.Context, req Request) (Result, error) {
	sparse, err := normSparse(req.Paths)
	if err != nil {
		return Result{}, err
	}
	if req.Change == nil {
		return Result{}, errors.New("a change function is required")
	}
	if err := req.Commit.validate(); err != nil {
		return Result{}, err
	}
	cn, err := c.dial(ctx, req.Remote)
	if err != nil {
		return Result{}, wrapNoConn("connecting to", remoteDisplay(req.Remote.URL), req.Remote.Auth.secrets(), err)
	}
	ref := req.Checkout.String()
	if req.Checkout.Commit != "" && req.Checkout.Commit == req.SkipIfHead {
		return Result{Head: req.SkipIfHead, Skipped: true}, nil
	}
	res, refs, err := c.resolve(ctx, cn, req.Checkout)
	if err != nil {
		return Result{}, cn.wrap("resolving ref", ref, err)
	}
	if req.SkipIfHead != "" && res.hash.String() == req.SkipIfHead {
		return Result{Head: res.hash.String(), Branch: res.branch, Skipped: true}, nil
	}

	e, err := c.openEntry(cacheKey(cn.url, req.Checkout, sparse), cn.url, sparse)
	if err != nil {
		return Result{}, cn.wrap("opening cache", ref, err)
	}
	defer e.close()

	var out Result
	for attempt := 1; ; attempt++ {
		out, err = c.attempt(ctx, e, cn, req, res, refs, attempt)
		if !errors.Is(err, errRetry) {
			break
		}
		if attempt >= c.opts.maxAttempts {
			err = fmt.Errorf("%w after %d attempts: %w", ErrRemoteMoved, attempt, err)
			break
		}
		if err := c.sleep(ctx, attempt); err != nil {
			return out, cn.wrap("pushing", ref, err)
		}
		res, refs, err = c.resolve(ctx, cn, req.Checkout)
		if err != nil {
			return out, cn.wrap("resolving ref", ref, err)
		}
	}
	if err != nil {
		return out, cn.wrap(stepOf(err), ref, err)
	}
	return out, nil
}

// stepError names the step that failed inside an attempt.
type stepError struct {
	step string
	err  error
}

func (s *stepError) Error() string { return s.err.Error() }
func (s *stepError) Unwrap() error { return s.err }

func step(name string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{step: name, err: err}
}

func stepOf(err error) string {
	var s *stepError
	if errors.As(err, &s) {
		return s.step
	}
	return "running"
}

func (c *Client) resolve(ctx context.Context, cn *conn, co Checkout) (resolved, map[plumbing.ReferenceName]plumbing.Hash, error) {
	list, err := c.listRefs(ctx, cn)
	if err != nil {
		return resolved{}, nil, err
	}
	res, err := resolveRef(co, list)
	if err != nil {
		return resolved{}, nil, err
	}
	refs := make(map[plumbing.ReferenceName]plumbing.Hash, len(list))
	for _, r := range list {
		refs[r.Name()] = r.Hash()
	}
	return res, refs, nil
}

func (c *Client) sleep(ctx context.Context, attempt int) error {
	d := c.opts.backoffBase << min(attempt-1, 20)
	if d > c.opts.backoffMax || d <= 0 {
		d = c.opts.backoffMax
	}
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt runs the change once on the current head and pushes.
func (c *Client) attempt(ctx context.Context, e *entry, cn *conn, req Request, res resolved, refs map[plumbing.ReferenceName]plumbing.Hash, attempt int) (Result, error) {
	out := Result{Head: res.hash.String(), Branch: res.branch, Attempts: attempt}
	res, changed, err := e.prepare(ctx, cn, res, c.opts.maxIncr)
	if err != nil {
		return out, err
	}
	out.Head = res.hash.String()
	out.ChangedPaths = changed
	plan, err := planPush(req.Push, res.branch, res.hash)
	if err != nil {
		return out, step("planning push", err)
	}
	if err := e.setDirty(true); err != nil {
		return out, step("preparing work tree", err)
	}
	e.settle(time.Now())
	ch, err := req.Change(ctx, Worktree{Dir: e.workDir(), Head: res.hash.String(), ChangedPaths: changed, Attempt: attempt})
	if err != nil {
		return out, step("applying change", err)
	}
	msg := ch.Message
	changes, err := e.scanFiles(ch.Files)
	if err != nil {
		return out, step("reading work tree", err)
	}
	if len(changes) == 0 {
		return out, step("saving cache state", e.finish())
	}
	tree, err := e.buildTree(res.hash, changes)
	if err != nil {
		return out, step("committing", err)
	}
	if base, _ := e.tree(res.hash); base != nil && base.Hash == tree {
		// the change only touched stat data or restored content
		e.accept(changes)
		return out, step("saving cache state", e.finish())
	}
	commit, err := e.writeCommit(req.Commit, msg, tree, res.hash, c.opts.now())
	if err != nil {
		return out, step("committing", err)
	}
	e.st.Commits++
	commit, pushed, err := e.push(ctx, cn, req.Push, plan, pushRecord{Commit: commit, Parent: res.hash, Tree: tree}, refs)
	if err != nil {
		if errors.Is(err, errRetry) {
			if rerr := e.restore(changes); rerr != nil {
				return out, step("resetting work tree", rerr)
			}
		}
		return out, step("pushing", err)
	}
	e.accept(changes)
	e.st.Worktree = commit
	if plan.guarded {
		e.st.Seen = commit
	}
	out.Commit, out.Pushed = commit.String(), pushed
	return out, step("saving cache state", e.finish())
}

func (e *entry) finish() error {
	if err := e.saveState(); err != nil {
		return err
	}
	return e.setDirty(false)
}

// prepare makes the work tree reflect res.hash: fetches it if it is not in
// the cache, undoes what an earlier interrupted run left, and applies the
// tree diff. It returns the paths changed upstream since the last head seen.
// When the ref moved between the lookup and the fetch, res is updated to
// the commit fetched.
func (e *entry) prepare(ctx context.Context, cn *conn, res resolved, maxIncr int) (resolved, []string, error) {
	if !e.has(res.hash) {
		if err := e.fetch(ctx, cn, res, maxIncr); err != nil {
			return res, nil, step("fetching", err)
		}
		if !e.has(res.hash) && !res.full {
			if h, err := e.fetchedHead(); err == nil {
				res.hash = h
			}
		}
		if !e.has(res.hash) {
			return res, nil, step("fetching", fmt.Errorf("%w: commit %s is not on %s", ErrRefNotFound, res.hash, res.ref))
		}
	}
	if e.isDirty() {
		changes, err := e.scan()
		if err != nil {
			return res, nil, step("resetting work tree", err)
		}
		if err := e.restore(changes); err != nil {
			return res, nil, step("resetting work tree", err)
		}
	}
	if _, err := e.checkoutTree(ctx, res.hash); err != nil {
		return res, nil, step("checking out", err)
	}
	var changed []string
	if !e.st.Seen.IsZero() && e.has(e.st.Seen) {
		from, err1 := e.tree(e.st.Seen)
		to, err2 := e.tree(res.hash)
		if err1 == nil && err2 == nil {
			if d, err := e.diffPaths(ctx, from, to); err == nil {
				changed = d
			}
		}
	}
	e.st.Seen = res.hash
	return res, changed, nil
}

// fetchedHead returns the commit the last fetch brought (annotated tags
// peeled).
func (e *entry) fetchedHead() (plumbing.Hash, error) {
	ref, err := e.repo.Storer.Reference(fetchRef)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h := ref.Hash()
	if tag, err := object.GetTag(e.repo.Storer, h); err == nil {
		c, err := tag.Commit()
		if err != nil {
			return plumbing.ZeroHash, err
		}
		h = c.Hash
	}
	return h, nil
}

const fetchRef = plumbing.ReferenceName("refs/dockhand/head")

func (e *entry) has(h plumbing.Hash) bool {
	_, err := e.repo.Storer.EncodedObject(plumbing.CommitObject, h)
	return err == nil
}

// fetch brings the checkout ref into the cache. The first fetch is
// shallow (depth 1). Later ones are incremental (no depth): a depth-1 fetch
// into a shallow repository makes the server send the whole tree again,
// while an incremental one sends only what changed since the commit the
// cache already has. Should the remote no longer share that history (a
// force-push), an incremental fetch would send everything, so it is cut off
// after WithMaxIncrementalObjects objects and replaced by a shallow one.
func (e *entry) fetch(ctx context.Context, cn *conn, res resolved, maxIncr int) error {
	if res.full {
		return e.fetchDepth(ctx, cn, res, 0, nil)
	}
	if !e.st.Seen.IsZero() && e.has(e.st.Seen) {
		fctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		p := &objectCounter{limit: maxIncr, cancel: cancel}
		err := e.fetchDepth(fctx, cn, res, 0, p)
		if err == nil || !p.exceeded {
			return err
		}
	}
	return e.fetchDepth(ctx, cn, res, 1, nil)
}

var errTooManyObjects = errors.New("incremental fetch too large")

func (e *entry) fetchDepth(ctx context.Context, cn *conn, res resolved, depth int, progress *objectCounter) error {
	opts := &git.FetchOptions{
		RemoteName: "origin", RemoteURL: cn.url,
		RefSpecs: []config.RefSpec{config.RefSpec("+" + res.ref.String() + ":" + fetchRef.String())},
		Depth:    depth, Tags: git.NoTags, Force: true,
		Auth: cn.auth, CABundle: cn.caBundle, ClientCert: cn.clientCert, ClientKey: cn.clientKey, ProxyOptions: cn.proxy,
	}
	if progress != nil {
		opts.Progress = progress
	}
	err := cn.exchange(ctx, func(ctx context.Context) error { return e.repo.FetchContext(ctx, opts) })
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

// objectCounter reads the server's progress messages ("Enumerating
// objects: N" or "Counting objects: ... (N/M)") and cancels the fetch once
// the pack would hold more than limit objects.
type objectCounter struct {
	limit    int
	cancel   context.CancelCauseFunc
	buf      []byte
	exceeded bool
}

func (o *objectCounter) Write(p []byte) (int, error) {
	o.buf = append(o.buf, p...)
	if len(o.buf) > 4096 {
		o.buf = o.buf[len(o.buf)-4096:]
	}
	for _, m := range objectCountRe.FindAllSubmatch(o.buf, -1) {
		if n, err := strconv.Atoi(string(m[1])); err == nil && n > o.limit {
			o.exceeded = true
			o.cancel(errTooManyObjects)
			return 0, errTooManyObjects // aborts the fetch at once
		}
	}
	return len(p), nil
}

var objectCountRe = regexp.MustCompile(`(?:Enumerating objects: |Counting objects: +\d+% \(\d+/)(\d+)`)

func remoteDisplay(raw string) string {
	cn := &conn{}
	if ep, err := parseEndpoint(raw); err == nil {
		cn.display = displayURL(ep)
	}
	return cn.display
}
