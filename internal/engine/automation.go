package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/commitmsg"
	"github.com/dockhand-dev/dockhand/gitpush"
	"github.com/dockhand-dev/dockhand/updater"
)

// Plan is what an automation run changed, or would change in a dry run.
type Plan struct {
	// Updates are the changed files with their content before and after.
	Updates []updater.FileUpdate
	// Message is the rendered commit message; empty when nothing changed.
	Message string
	// Diagnostics are the updater's notes and errors.
	Diagnostics []updater.Diagnostic
	// Head is the commit the change was made on.
	Head string
	// Commit is the commit made (empty in a dry run or without changes).
	Commit string

	result updater.Result // for the pull request templates
}

// ReconcileAutomation runs an ImageUpdateAutomation: checks out its
// repository, sets the marked fields to the latest refs of the selected
// policies, and commits, pushes and opens or updates a pull request when
// something changed.
func (e *Engine) ReconcileAutomation(ctx context.Context, store Store, auto *imagev1.ImageUpdateAutomation) Outcome {
	_, out := e.runAutomation(ctx, store, auto, false)
	return out
}

// PlanAutomation is a dry run of ReconcileAutomation: the change is made in
// the clone cache's work tree, reported, and undone; nothing is committed or
// pushed. The status is left as it was, conditions aside.
func (e *Engine) PlanAutomation(ctx context.Context, store Store, auto *imagev1.ImageUpdateAutomation) (*Plan, Outcome) {
	return e.runAutomation(ctx, store, auto, true)
}

// automationRun is what one run gathers before it talks to git.
type automationRun struct {
	remote   gitpush.Remote
	checkout gitpush.Checkout
	refs     map[string]updater.Ref
	observed imagev1.ObservedPolicies
	template *commitmsg.Template
	commit   gitpush.CommitOptions
	push     gitpush.PushOptions
	path     string
}

func (e *Engine) runAutomation(ctx context.Context, store Store, auto *imagev1.ImageUpdateAutomation, dryRun bool) (*Plan, Outcome) {
	if auto.Spec.Suspend && !dryRun {
		e.markSuspended(auto)
		return nil, Outcome{}
	}
	if e.opts.Git == nil {
		err := errors.New("this engine has no git client")
		e.markStalled(auto, imagev1.GitOperationFailedReason, err.Error())
		return nil, terminal(err)
	}
	requested := false
	if !dryRun {
		requested = handleRequest(auto, &auto.Status)
	}

	run, out, ok := e.prepareAutomation(ctx, store, auto)
	if !ok {
		return nil, out
	}

	skipIfHead := ""
	if !requested && !dryRun && auto.Status.ObservedGeneration == auto.Generation &&
		maps.Equal(auto.Status.ObservedPolicies, run.observed) {
		skipIfHead = revisionCommit(auto.Status.ObservedSourceRevision)
	}

	start := e.opts.Now()
	plan := &Plan{}
	var keepIndex *updater.Index
	autoKey := key(auto.Namespace, auto.Name)
	change := func(ctx context.Context, wt gitpush.Worktree) (gitpush.Change, error) {
		ix, warm := e.indexFor(autoKey, wt, dryRun)
		opts := []updater.Option{updater.WithDefaultNamespace(auto.Namespace)}
		if run.path != "" {
			opts = append(opts, updater.WithPath(run.path))
		}
		if ix != nil {
			opts = append(opts, updater.WithIndex(ix))
			if warm {
				opts = append(opts, updater.WithChangedPaths(wt.ChangedPaths))
			}
		}
		if dryRun {
			opts = append(opts, updater.WithDryRun())
		}
		res, err := updater.Apply(ctx, wt.Dir, run.refs, opts...)
		if err != nil {
			return gitpush.Change{}, err
		}
		plan.Updates, plan.Diagnostics, plan.Message, plan.result = res.Updates, res.Diagnostics, "", res
		keepIndex = ix
		// The updater knows which files it wrote, so gitpush need not look
		// at the others; a dry run wrote none.
		written := make([]string, 0, len(res.Updates))
		if !dryRun {
			for _, u := range res.Updates {
				written = append(written, u.Path)
			}
		}
		if len(res.Updates) == 0 {
			return gitpush.Change{Files: written}, nil
		}
		msg, err := run.template.Execute(templateData(auto, res))
		if err != nil {
			return gitpush.Change{}, fmt.Errorf("rendering spec.git.commit.messageTemplate: %w", err)
		}
		plan.Message = msg
		return gitpush.Change{Message: msg, Files: written}, nil
	}

	res, err := e.opts.Git.Run(ctx, gitpush.Request{
		Remote:     run.remote,
		Checkout:   run.checkout,
		Paths:      sparsePaths(run.path),
		SkipIfHead: skipIfHead,
		Commit:     run.commit,
		Push:       run.push,
		Change:     change,
	})
	plan.Head, plan.Commit = res.Head, res.Commit
	if err != nil {
		e.forgetIndex(autoKey)
		return plan, e.gitFailure(auto, start, err, dryRun)
	}
	if dryRun {
		e.markReady(auto, imagev1.SucceededReason, "dry run: nothing pushed")
		return plan, Outcome{}
	}
	if keepIndex != nil {
		e.keepIndex(autoKey, keepIndex)
	}
	return plan, e.recordAutomation(ctx, auto, run, res, plan, start)
}

// recordAutomation writes the outcome of a successful run into the status
// and opens or updates the pull request.
func (e *Engine) recordAutomation(ctx context.Context, auto *imagev1.ImageUpdateAutomation, run automationRun, res gitpush.Result, plan *Plan, start time.Time) Outcome {
	now := metav1.NewTime(e.opts.Now())
	st := &auto.Status
	st.LastAutomationRunTime = &now
	st.ObservedPolicies = run.observed
	// The revision the checkout branch is at now: our commit when we
	// pushed to it, so that the next run with nothing new is skipped.
	head := res.Head
	if res.Commit != "" && res.Branch != "" && slices.Contains(res.Pushed, "refs/heads/"+res.Branch) {
		head = res.Commit
	}
	st.ObservedSourceRevision = sourceRevision(res.Branch, head)
	st.ObservedGeneration = auto.Generation

	outcome, msg := imagev1.RunNoChange, "no change"
	switch {
	case res.Skipped:
		msg = "no change since the last run: repository at " + shortSHA(res.Head) + ", policies unchanged"
	case res.Commit != "":
		outcome, msg = imagev1.RunPushed, fmt.Sprintf("pushed commit %s to %s", shortSHA(res.Commit), strings.Join(res.Pushed, ", "))
		if len(res.Pushed) == 0 {
			msg = fmt.Sprintf("commit %s already on the push branch", shortSHA(res.Commit))
		} else {
			st.LastPushCommit = res.Commit
			st.LastPushTime = &now
		}
	}
	if n := countErrors(plan.Diagnostics); n > 0 {
		msg += fmt.Sprintf("; %d file(s) could not be updated: %s", n, firstError(plan.Diagnostics))
	}

	if pr := auto.Spec.GitSpec.PullRequest; pr != nil && res.Commit != "" {
		req, err := pullRequest(auto, res.Branch, plan)
		var prRes gitpush.PullRequestResult
		if err == nil {
			prRes, err = e.opts.Git.EnsurePullRequest(ctx, run.remote, req)
		}
		if err != nil {
			err = fmt.Errorf("opening pull request: %w", err)
			e.recordRun(auto, start, imagev1.RunFailed, res.Commit, err.Error())
			e.markNotReady(auto, imagev1.PullRequestFailedReason, err.Error())
			return failed(err)
		}
		st.PullRequest = &imagev1.PullRequestStatus{URL: prRes.URL, Number: prRes.Number}
		msg += "; pull request " + prRes.URL
	}

	if !res.Skipped {
		e.recordRun(auto, start, outcome, res.Commit, msg)
	}
	e.markReady(auto, imagev1.SucceededReason, msg)
	return requeue(auto.GetRequeueAfter())
}

// recordRun adds a run to the status history. Consecutive runs that
// changed nothing share one entry (the latest), so they do not push the
// runs that did something out of the bounded history.
func (e *Engine) recordRun(auto *imagev1.ImageUpdateAutomation, start time.Time, outcome imagev1.RunOutcome, commit, msg string) {
	d := metav1.Duration{Duration: e.opts.Now().Sub(start).Round(time.Millisecond)}
	if h := auto.Status.History; outcome == imagev1.RunNoChange && len(h) > 0 && h[0].Outcome == imagev1.RunNoChange {
		auto.Status.History = h[1:]
	}
	auto.Status.RecordRun(imagev1.AutomationRun{
		Time:     metav1.NewTime(start),
		Outcome:  outcome,
		Commit:   commit,
		Duration: &d,
		Message:  msg,
	})
}

// gitFailure classifies a failed run once.
func (e *Engine) gitFailure(auto *imagev1.ImageUpdateAutomation, start time.Time, err error, dryRun bool) Outcome {
	reason := imagev1.GitOperationFailedReason
	var ge *gitpush.Error
	if errors.As(err, &ge) && ge.Step == "applying change" {
		reason = imagev1.UpdateFailedReason
	}
	if errors.Is(err, gitpush.ErrAuth) {
		reason = imagev1.AuthenticationFailedReason
	}
	if !dryRun {
		e.recordRun(auto, start, imagev1.RunFailed, "", err.Error())
		auto.Status.ObservedGeneration = auto.Generation
	}
	e.markNotReady(auto, reason, err.Error())
	return failed(err)
}

// prepareAutomation reads and checks everything the run needs.
func (e *Engine) prepareAutomation(ctx context.Context, store Store, auto *imagev1.ImageUpdateAutomation) (automationRun, Outcome, bool) {
	var run automationRun
	stall := func(reason string, err error) (automationRun, Outcome, bool) {
		e.markStalled(auto, reason, err.Error())
		auto.Status.ObservedGeneration = auto.Generation
		return run, terminal(err), false
	}
	git := auto.Spec.GitSpec
	if git == nil {
		return stall(imagev1.InvalidSourceConfigReason, errors.New("spec.git is required"))
	}
	if u := auto.GetUpdateStrategy(); u.Strategy != imagev1.UpdateStrategySetters {
		return stall(imagev1.InvalidUpdateStrategyReason, fmt.Errorf("spec.update.strategy %q is not supported (want Setters)", u.Strategy))
	} else {
		run.path = strings.TrimPrefix(path.Clean("/"+u.Path), "/")
	}
	if git.PullRequest != nil && (git.Push == nil || git.Push.Branch == "") {
		return stall(imagev1.InvalidSourceConfigReason, errors.New("spec.git.pullRequest needs spec.git.push.branch, the branch the pull request is opened from"))
	}

	tmpl, err := commitmsg.Parse("spec.git.commit.messageTemplate", git.Commit.MessageTemplate)
	if err != nil {
		return stall(imagev1.InvalidSourceConfigReason, err)
	}
	run.template = tmpl

	selector := labels.Everything()
	if auto.Spec.PolicySelector != nil {
		if selector, err = metav1.LabelSelectorAsSelector(auto.Spec.PolicySelector); err != nil {
			return stall(imagev1.InvalidPolicySelectorReason, fmt.Errorf("spec.policySelector: %w", err))
		}
	}

	src, err := e.gitSource(ctx, store, auto)
	if err != nil {
		var inv *invalidSourceError
		if errors.As(err, &inv) {
			return stall(imagev1.InvalidSourceConfigReason, err)
		}
		return run, e.dependencyFailure(auto, err), false
	}
	run.remote, run.checkout = src.remote, src.checkout

	pols, err := store.ListImagePolicies(ctx, auto.Namespace, selector)
	if err != nil {
		e.markNotReady(auto, imagev1.DependencyNotReadyReason, err.Error())
		return run, failed(err), false
	}
	run.refs = make(map[string]updater.Ref, len(pols))
	run.observed = make(imagev1.ObservedPolicies, len(pols))
	for _, p := range pols {
		if p.Status.LatestRef == nil {
			continue
		}
		r := *p.Status.LatestRef
		run.refs[key(p.Namespace, p.Name)] = updater.Ref{Name: r.Name, Tag: r.Tag, Digest: r.Digest}
		run.observed[p.Name] = r
	}

	run.commit = gitpush.CommitOptions{Author: gitpush.Author{Name: git.Commit.Author.Name, Email: git.Commit.Author.Email}}
	if sk := git.Commit.SigningKey; sk != nil {
		data, err := store.GetSecretData(ctx, auto.Namespace, sk.SecretRef.Name)
		if err != nil {
			return run, e.dependencyFailure(auto, fmt.Errorf("reading spec.git.commit.signingKey: %w", err)), false
		}
		signer, err := gitpush.SignerFromSecret(string(sk.GetType()), data)
		if err != nil {
			return run, e.dependencyFailure(auto, fmt.Errorf("secret %s/%s in spec.git.commit.signingKey: %w", auto.Namespace, sk.SecretRef.Name, err)), false
		}
		run.commit.Signer = signer
	}
	if p := git.Push; p != nil {
		run.push = gitpush.PushOptions{Branch: p.Branch, Refspec: p.Refspec, Options: p.Options}
	}
	return run, Outcome{}, true
}

// DefaultGitTimeout bounds each exchange with a Git remote (listing refs, a
// fetch, a push) when spec.git.remote.timeout, or the GitRepository's
// spec.timeout, is not set: Flux's default for GitRepositories.
const DefaultGitTimeout = 60 * time.Second

// invalidSourceError is a source that cannot work as written.
type invalidSourceError struct{ msg string }

func (e *invalidSourceError) Error() string { return e.msg }

type gitSource struct {
	remote   gitpush.Remote
	checkout gitpush.Checkout
}

// gitSource resolves the remote, its credentials and the checkout ref from
// spec.git.remote or the referenced Flux GitRepository; spec.git.checkout
// overrides the GitRepository's ref, as in Flux.
func (e *Engine) gitSource(ctx context.Context, store Store, auto *imagev1.ImageUpdateAutomation) (gitSource, error) {
	var src gitSource
	var secretNS, secretName, proxyName string
	git := auto.Spec.GitSpec
	switch {
	case git.Remote != nil:
		src.remote.URL = git.Remote.URL
		src.remote.Timeout = DefaultGitTimeout
		if t := git.Remote.Timeout; t != nil && t.Duration > 0 {
			src.remote.Timeout = t.Duration
		}
		secretNS = auto.Namespace
		if git.Remote.SecretRef != nil {
			secretName = git.Remote.SecretRef.Name
		}
		if git.Remote.ProxySecretRef != nil {
			proxyName = git.Remote.ProxySecretRef.Name
		}
	case auto.Spec.SourceRef != nil:
		ref := auto.Spec.SourceRef
		if ref.Kind != "" && ref.Kind != "GitRepository" {
			return src, &invalidSourceError{fmt.Sprintf("spec.sourceRef.kind %q is not supported (want GitRepository)", ref.Kind)}
		}
		ns := ref.Namespace
		if ns == "" {
			ns = auto.Namespace
		}
		if ns != auto.Namespace && e.opts.NoCrossNamespaceRefs {
			return src, &invalidSourceError{fmt.Sprintf("cross-namespace reference to GitRepository %s/%s is not allowed on this installation", ns, ref.Name)}
		}
		repo, err := store.GetGitRepository(ctx, ns, ref.Name)
		if err != nil {
			return src, fmt.Errorf("reading GitRepository %s/%s: %w", ns, ref.Name, err)
		}
		if src, err = sourceFromGitRepository(repo); err != nil {
			return src, err
		}
		secretNS = ns
		secretName, _, _ = unstructured.NestedString(repo.Object, "spec", "secretRef", "name")
		proxyName, _, _ = unstructured.NestedString(repo.Object, "spec", "proxySecretRef", "name")
	default:
		return src, &invalidSourceError{"one of spec.sourceRef and spec.git.remote is required"}
	}
	if co := git.Checkout; co != nil {
		r := co.Reference
		src.checkout = gitpush.Checkout{Branch: r.Branch, Tag: r.Tag, SemVer: r.SemVer, Name: r.Name, Commit: r.Commit}
	}

	if secretName != "" {
		data, err := store.GetSecretData(ctx, secretNS, secretName)
		if err != nil {
			return src, fmt.Errorf("reading the git credentials: %w", err)
		}
		auth, err := gitpush.AuthFromSecret(data)
		if err != nil {
			return src, fmt.Errorf("secret %s/%s with the git credentials: %w", secretNS, secretName, err)
		}
		src.remote.Auth = auth
	} else if e.opts.GitAuth != nil {
		src.remote.Auth = e.opts.GitAuth(src.remote.URL)
	}
	if proxyName != "" {
		data, err := store.GetSecretData(ctx, secretNS, proxyName)
		if err != nil {
			return src, fmt.Errorf("reading the git proxy: %w", err)
		}
		proxy, err := gitpush.ProxyFromSecret(data)
		if err != nil {
			return src, fmt.Errorf("secret %s/%s with the git proxy: %w", secretNS, proxyName, err)
		}
		if src.remote.Auth == nil {
			src.remote.Auth = &gitpush.Auth{}
		}
		src.remote.Auth.Proxy = proxy
	}
	return src, nil
}

// sourceFromGitRepository reads the fields dockhand uses from a Flux
// GitRepository.
func sourceFromGitRepository(repo *unstructured.Unstructured) (gitSource, error) {
	var src gitSource
	url, _, _ := unstructured.NestedString(repo.Object, "spec", "url")
	if url == "" {
		return src, &invalidSourceError{fmt.Sprintf("GitRepository %s/%s has no spec.url", repo.GetNamespace(), repo.GetName())}
	}
	src.remote.URL = url
	src.remote.Timeout = DefaultGitTimeout
	if t, _, _ := unstructured.NestedString(repo.Object, "spec", "timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return src, &invalidSourceError{fmt.Sprintf("GitRepository %s/%s has spec.timeout %q, not a positive duration", repo.GetNamespace(), repo.GetName(), t)}
		}
		src.remote.Timeout = d
	}
	ref, _, _ := unstructured.NestedStringMap(repo.Object, "spec", "ref")
	src.checkout = gitpush.Checkout{
		Branch: ref["branch"],
		Tag:    ref["tag"],
		SemVer: ref["semver"],
		Name:   ref["name"],
		Commit: ref["commit"],
	}
	return src, nil
}

// pullRequest renders the pull request's title and body. Both default to
// the commit message: its first line, and the rest. The base defaults to
// the checkout branch.
func pullRequest(auto *imagev1.ImageUpdateAutomation, checkoutBranch string, plan *Plan) (gitpush.PullRequest, error) {
	spec := auto.Spec.GitSpec.PullRequest
	title, body, _ := strings.Cut(plan.Message, "\n")
	data := templateData(auto, plan.result)
	var err error
	if spec.Title != "" {
		if title, err = commitmsg.Render("spec.git.pullRequest.title", spec.Title, data); err != nil {
			return gitpush.PullRequest{}, err
		}
	}
	if spec.Body != "" {
		if body, err = commitmsg.Render("spec.git.pullRequest.body", spec.Body, data); err != nil {
			return gitpush.PullRequest{}, err
		}
	}
	base := spec.Base
	if base == "" {
		base = checkoutBranch
	}
	return gitpush.PullRequest{
		Provider: string(spec.Provider),
		APIURL:   spec.APIURL,
		Head:     auto.Spec.GitSpec.Push.Branch,
		Base:     base,
		Title:    strings.TrimSpace(title),
		Body:     strings.TrimSpace(body),
		Labels:   spec.Labels,
	}, nil
}

// templateData builds Flux's commit template data from the updater's result.
func templateData(auto *imagev1.ImageUpdateAutomation, res updater.Result) commitmsg.Data {
	files := make(map[string]commitmsg.ObjectChanges, len(res.FileChanges))
	for file, objs := range res.FileChanges {
		oc := make(commitmsg.ObjectChanges, len(objs))
		for id, changes := range objs {
			cid := commitmsg.ObjectIdentifier{APIVersion: id.APIVersion, Kind: id.Kind, Namespace: id.Namespace, Name: id.Name}
			for _, c := range changes {
				oc[cid] = append(oc[cid], commitmsg.Change{OldValue: c.OldValue, NewValue: c.NewValue, Setter: c.Setter})
			}
		}
		files[file] = oc
	}
	return commitmsg.Data{
		AutomationObject: commitmsg.ObjectKey{Name: auto.Name, Namespace: auto.Namespace},
		Changed:          commitmsg.Result{FileChanges: files},
		Values:           auto.Spec.GitSpec.Commit.MessageTemplateValues,
	}
}

// indexFor returns the updater index to use for a run on wt and whether the
// run can be warm. A warm run needs an index from an earlier successful run
// of this process and the paths changed since; anything else is cold.
func (e *Engine) indexFor(autoKey string, wt gitpush.Worktree, dryRun bool) (*updater.Index, bool) {
	if dryRun {
		return nil, false
	}
	e.mu.Lock()
	stored := e.indexes[autoKey]
	e.mu.Unlock()
	if stored == nil || wt.ChangedPaths == nil || wt.Attempt > 1 {
		return updater.NewIndex(), false
	}
	// Work on a copy: a failed push throws the attempt's work tree away,
	// and the index must keep describing what stays.
	raw, err := stored.ix.MarshalBinary()
	if err != nil {
		return updater.NewIndex(), false
	}
	ix := updater.NewIndex()
	if err := ix.UnmarshalBinary(raw); err != nil {
		return updater.NewIndex(), false
	}
	return ix, true
}

func (e *Engine) keepIndex(autoKey string, ix *updater.Index) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.indexes[autoKey] = &automationIndex{ix: ix}
}

func (e *Engine) forgetIndex(autoKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.indexes, autoKey)
}

// sparsePaths checks out only the update path; the root means everything.
func sparsePaths(p string) []string {
	if p == "" || p == "." {
		return nil
	}
	return []string{p}
}

// sourceRevision formats a revision as Flux does: "main@sha1:<hash>".
func sourceRevision(branch, commit string) string {
	if commit == "" {
		return ""
	}
	if branch == "" {
		return "sha1:" + commit
	}
	return branch + "@sha1:" + commit
}

// revisionCommit extracts the commit from a source revision.
func revisionCommit(rev string) string {
	if i := strings.LastIndex(rev, "sha1:"); i >= 0 {
		return rev[i+len("sha1:"):]
	}
	return rev
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

func countErrors(diags []updater.Diagnostic) int {
	n := 0
	for _, d := range diags {
		if d.Severity == updater.SeverityError {
			n++
		}
	}
	return n
}

func firstError(diags []updater.Diagnostic) string {
	for _, d := range diags {
		if d.Severity == updater.SeverityError {
			return d.String()
		}
	}
	return ""
}
