package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/policy"
	"github.com/dockhand-dev/dockhand/scanner"
)

// ReconcilePolicy selects the latest tag of an ImagePolicy's repository
// from the stored tags, reflects its digest when asked, and records it in
// status.latestRef.
func (e *Engine) ReconcilePolicy(ctx context.Context, store Store, pol *imagev1.ImagePolicy) Outcome {
	if pol.Spec.Suspend {
		e.markSuspended(pol)
		return Outcome{}
	}
	requested := handleRequest(pol, &pol.Status)

	sel, err := compilePolicy(pol)
	if err != nil {
		e.markStalled(pol, imagev1.PolicyInvalidReason, err.Error())
		pol.Status.ObservedGeneration = pol.Generation
		return terminal(err)
	}

	repo, out, ok := e.policyRepository(ctx, store, pol)
	if !ok {
		return out
	}

	tags, err := e.opts.Tags.Tags(key(repo.Namespace, repo.Name))
	if err != nil {
		if errors.Is(err, scanner.ErrNoTags) {
			msg := fmt.Sprintf("ImageRepository %s/%s has no stored tags yet", repo.Namespace, repo.Name)
			e.markNotReady(pol, imagev1.DependencyNotReadyReason, msg)
			return requeue(e.opts.DependencyRequeue)
		}
		e.markNotReady(pol, imagev1.ReadOperationFailedReason, err.Error())
		return failed(err)
	}

	res, err := sel.Select(tags)
	if err != nil {
		var noTag *policy.NoTagError
		if errors.As(err, &noTag) {
			// New tags may qualify after the next scan: not stalled.
			e.markNotReady(pol, imagev1.NoMatchingTagReason, err.Error())
			pol.Status.ObservedGeneration = pol.Generation
			return Outcome{}
		}
		e.markNotReady(pol, imagev1.PolicyInvalidReason, err.Error())
		return failed(err)
	}

	imageName := strings.TrimSpace(repo.Spec.Image)
	next := imagev1.ImageRef{Name: imageName, Tag: res.Tag}
	prev := pol.Status.LatestRef

	digest, out, ok := e.reflectDigest(ctx, store, pol, repo, prev, next, requested)
	if !ok {
		return out
	}
	next.Digest = digest

	if prev == nil || *prev != next {
		if prev != nil {
			p := *prev
			pol.Status.ObservedPreviousRef = &p
		}
		pol.Status.LatestRef = &next
	}
	pol.Status.ObservedGeneration = pol.Generation

	msg := "latest image " + next.String()
	if d := res.Diagnostics; d.IgnoredCount() > 0 {
		msg += "; " + d.String()
	}
	e.markReady(pol, imagev1.SucceededReason, msg)
	return requeue(pol.GetInterval())
}

// compilePolicy maps the spec onto the policy package.
func compilePolicy(pol *imagev1.ImagePolicy) (*policy.Policy, error) {
	return policy.New(PolicyOptions(pol.Spec)...)
}

// PolicyOptions maps an ImagePolicy spec onto the policy package's options.
// Every choice that is set is passed on, so that policy.New rejects a spec
// with several (one that bypassed the API server's validation) instead of
// one winning.
func PolicyOptions(spec imagev1.ImagePolicySpec) []policy.Option {
	var opts []policy.Option
	if c := spec.Policy.SemVer; c != nil {
		opts = append(opts, policy.WithSemVer(c.Range))
	}
	if c := spec.Policy.Alphabetical; c != nil {
		opts = append(opts, policy.WithAlphabetical(policy.Order(c.Order)))
	}
	if c := spec.Policy.Numerical; c != nil {
		opts = append(opts, policy.WithNumerical(policy.Order(c.Order)))
	}
	if f := spec.FilterTags; f != nil {
		opts = append(opts, policy.WithFilterTags(f.Pattern, f.Extract))
	}
	return opts
}

// policyRepository gets the policy's ImageRepository and checks that the
// policy may use it and that it has been scanned.
func (e *Engine) policyRepository(ctx context.Context, store Store, pol *imagev1.ImagePolicy) (*imagev1.ImageRepository, Outcome, bool) {
	ref := pol.Spec.ImageRepositoryRef
	ns := ref.Namespace
	if ns == "" {
		ns = pol.Namespace
	}
	if ns != pol.Namespace && e.opts.NoCrossNamespaceRefs {
		err := fmt.Errorf("cross-namespace reference to ImageRepository %s/%s is not allowed on this installation", ns, ref.Name)
		e.markStalled(pol, imagev1.AccessDeniedReason, err.Error())
		return nil, terminal(err), false
	}
	repo, err := store.GetImageRepository(ctx, ns, ref.Name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// The store's message may say why (a namespace not watched).
			e.markNotReady(pol, imagev1.DependencyNotReadyReason, err.Error())
			return nil, requeue(e.opts.DependencyRequeue), false
		}
		e.markNotReady(pol, imagev1.DependencyNotReadyReason, err.Error())
		return nil, failed(err), false
	}
	if ns != pol.Namespace {
		allowed, err := e.accessAllowed(ctx, store, repo, pol.Namespace)
		if err != nil {
			e.markNotReady(pol, imagev1.DependencyNotReadyReason, err.Error())
			return nil, failed(err), false
		}
		if !allowed {
			err := fmt.Errorf("ImageRepository %s/%s does not grant access to namespace %s in spec.accessFrom", ns, ref.Name, pol.Namespace)
			e.markNotReady(pol, imagev1.AccessDeniedReason, err.Error())
			// The repository's accessFrom may change: the controller
			// watches it; the runner looks again later.
			return nil, requeue(e.opts.DependencyRequeue), false
		}
	}
	if repo.Status.LastScanResult == nil {
		e.markNotReady(pol, imagev1.DependencyNotReadyReason, fmt.Sprintf("ImageRepository %s/%s has not been scanned yet", ns, ref.Name))
		return nil, requeue(e.opts.DependencyRequeue), false
	}
	return repo, Outcome{}, true
}

// accessAllowed applies a repository's spec.accessFrom to a namespace.
func (e *Engine) accessAllowed(ctx context.Context, store Store, repo *imagev1.ImageRepository, namespace string) (bool, error) {
	if repo.Spec.AccessFrom == nil {
		return false, nil
	}
	nsLabels, err := store.GetNamespaceLabels(ctx, namespace)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("reading labels of namespace %s: %w", namespace, err)
	}
	for _, s := range repo.Spec.AccessFrom.NamespaceSelectors {
		if labels.SelectorFromSet(s.MatchLabels).Matches(labels.Set(nsLabels)) {
			return true, nil
		}
	}
	return false, nil
}

// reflectDigest returns the digest for status.latestRef according to
// spec.digestReflectionPolicy.
func (e *Engine) reflectDigest(ctx context.Context, store Store, pol *imagev1.ImagePolicy, repo *imagev1.ImageRepository, prev *imagev1.ImageRef, next imagev1.ImageRef, requested bool) (string, Outcome, bool) {
	switch pol.GetDigestReflectionPolicy() {
	case imagev1.ReflectNever:
		return "", Outcome{}, true
	case imagev1.ReflectIfNotPresent:
		if prev != nil && prev.Name == next.Name && prev.Tag == next.Tag && prev.Digest != "" {
			return prev.Digest, Outcome{}, true
		}
	case imagev1.ReflectAlways:
		// Read again each interval; between intervals keep what we have
		// unless the tag changed or a reconcile was requested.
		if prev != nil && prev.Name == next.Name && prev.Tag == next.Tag && prev.Digest != "" && !requested &&
			pol.Status.ObservedGeneration == pol.Generation && !e.digestDue(pol) {
			return prev.Digest, Outcome{}, true
		}
	}
	target, err := e.scanTarget(ctx, store, repo)
	if err != nil {
		return "", e.dependencyFailure(pol, err), false
	}
	digest, err := e.opts.Scanner.Digest(ctx, target, next.Tag, "")
	if err != nil {
		err = fmt.Errorf("resolving the digest of %s: %w", next.Name+":"+next.Tag, err)
		e.markNotReady(pol, imagev1.DigestLookupFailedReason, err.Error())
		out := failed(err)
		if d, ok := scanner.RetryAfter(err); ok {
			out.RequeueAfter = d
		}
		return "", out, false
	}
	e.noteDigestRead(pol)
	return digest, Outcome{}, true
}

// digestDue reports whether spec.interval has passed since this process
// last read the policy's digest. The time lives in memory: the first
// reconcile after a start reads the digest again, which is what a restart
// should do anyway.
func (e *Engine) digestDue(pol *imagev1.ImagePolicy) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	last, ok := e.digestReads[key(pol.Namespace, pol.Name)]
	return !ok || e.opts.Now().Sub(last) >= pol.GetInterval()
}

func (e *Engine) noteDigestRead(pol *imagev1.ImagePolicy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.digestReads[key(pol.Namespace, pol.Name)] = e.opts.Now()
}
