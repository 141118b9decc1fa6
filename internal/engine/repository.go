package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/scanner"
)

// ReconcileRepository scans an ImageRepository when a scan is due (first
// time, spec changed, interval elapsed, reconcile requested, or its tags are
// missing from the store) and records the result in its status.
func (e *Engine) ReconcileRepository(ctx context.Context, store Store, repo *imagev1.ImageRepository) Outcome {
	if repo.Spec.Suspend {
		e.markSuspended(repo)
		return Outcome{}
	}
	requested := handleRequest(repo, &repo.Status)

	canonical, err := canonicalImage(repo.Spec.Image)
	if err != nil {
		e.markStalled(repo, imagev1.ImageURLInvalidReason, err.Error())
		repo.Status.ObservedGeneration = repo.Generation
		return terminal(err)
	}

	if wait, due := e.scanDue(repo, requested); !due {
		return requeue(wait)
	}

	target, err := e.scanTarget(ctx, store, repo)
	if err != nil {
		return e.dependencyFailure(repo, err)
	}

	list, err := e.opts.Scanner.ListTags(ctx, target)
	if err != nil {
		return e.scanFailure(repo, err)
	}
	res, err := e.opts.Tags.Put(key(repo.Namespace, repo.Name), list.Tags, e.opts.Now())
	if err != nil {
		e.markNotReady(repo, imagev1.ReadOperationFailedReason, err.Error())
		return failed(err)
	}

	repo.Status.CanonicalImageName = canonical
	if list.Repository != "" {
		repo.Status.CanonicalImageName = list.Repository
	}
	repo.Status.LastScanResult = &imagev1.ScanResult{
		Revision:   res.Revision,
		TagCount:   res.TagCount,
		ScanTime:   metav1.NewTime(res.ScanTime),
		LatestTags: res.LatestTags,
	}
	repo.Status.ObservedExclusionList = slices.Clone(repo.GetExclusionList())
	repo.Status.ObservedGeneration = repo.Generation
	e.markReady(repo, imagev1.SucceededReason, fmt.Sprintf("successful scan: found %d tags in %s", res.TagCount, list.Duration.Round(time.Millisecond)))
	return requeue(repo.GetRequeueAfter())
}

// DeleteRepository forgets the tags stored for a repository (its finalizer).
func (e *Engine) DeleteRepository(repo *imagev1.ImageRepository) error {
	return e.opts.Tags.Delete(key(repo.Namespace, repo.Name))
}

// canonicalImage checks spec.image and returns its canonical name. A tag or
// digest in it is a mistake: the repository is scanned for all tags.
func canonicalImage(image string) (string, error) {
	if image == "" {
		return "", errors.New("spec.image is empty")
	}
	if strings.Contains(image, "@") {
		return "", fmt.Errorf("spec.image %q must not contain a digest", image)
	}
	// A colon after the last slash starts a tag (one before is a port).
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return "", fmt.Errorf("spec.image %q must not contain a tag", image)
	}
	ref, err := name.NewRepository(image)
	if err != nil {
		return "", fmt.Errorf("spec.image %q is not a valid image repository: %w", image, err)
	}
	return ref.Name(), nil
}

// scanDue decides whether to scan now, or how long until the next scan.
func (e *Engine) scanDue(repo *imagev1.ImageRepository, requested bool) (time.Duration, bool) {
	last := repo.Status.LastScanResult
	switch {
	case requested, last == nil, repo.Status.ObservedGeneration != repo.Generation,
		!slices.Equal(repo.Status.ObservedExclusionList, repo.GetExclusionList()):
		return 0, true
	}
	// After a restart, or with a new state file, the status may promise
	// tags the store does not have: scan rather than let policies see none.
	stored, ok, err := e.opts.Tags.Result(key(repo.Namespace, repo.Name))
	if err != nil || !ok || stored.Revision != last.Revision {
		return 0, true
	}
	next := last.ScanTime.Add(repo.GetRequeueAfter())
	wait := next.Sub(e.opts.Now())
	if wait <= 0 {
		return 0, true
	}
	return wait, false
}

// scanTarget maps the repository and its Secrets onto a scanner.Target.
func (e *Engine) scanTarget(ctx context.Context, store Store, repo *imagev1.ImageRepository) (scanner.Target, error) {
	ns := repo.Namespace
	t := scanner.Target{
		Image:         repo.Spec.Image,
		Provider:      scanner.Provider(repo.GetProvider()),
		Insecure:      repo.Spec.Insecure,
		Timeout:       repo.GetTimeout(),
		ExclusionList: repo.GetExclusionList(),
	}
	var auths []scanner.Auth
	if ref := repo.Spec.SecretRef; ref != nil {
		data, err := store.GetSecretData(ctx, ns, ref.Name)
		if err != nil {
			return t, fmt.Errorf("reading spec.secretRef: %w", err)
		}
		a, err := scanner.AuthFromSecretData(data)
		if err != nil {
			return t, fmt.Errorf("secret %s/%s in spec.secretRef: %w", ns, ref.Name, err)
		}
		auths = append(auths, a)
	}
	sa := repo.Spec.ServiceAccountName
	if sa == "" {
		sa = e.opts.DefaultServiceAccount
	}
	if sa != "" {
		names, err := store.GetServiceAccountPullSecrets(ctx, ns, sa)
		if err != nil {
			return t, fmt.Errorf("reading service account %s: %w", sa, err)
		}
		for _, n := range names {
			data, err := store.GetSecretData(ctx, ns, n)
			if err != nil {
				return t, fmt.Errorf("reading imagePullSecret %s of service account %s: %w", n, sa, err)
			}
			if a, err := scanner.AuthFromSecretData(data); err == nil {
				auths = append(auths, a)
			}
		}
	}
	if e.opts.DockerConfig != nil {
		if cfg := e.opts.DockerConfig(); cfg != nil {
			auths = append(auths, scanner.Auth{DockerConfigs: []*scanner.DockerConfig{cfg}})
		}
	}
	if len(auths) > 0 {
		t.Auth = scanner.MergeAuth(auths[0], auths[1:]...)
	}
	if ref := repo.Spec.CertSecretRef; ref != nil {
		data, err := store.GetSecretData(ctx, ns, ref.Name)
		if err != nil {
			return t, fmt.Errorf("reading spec.certSecretRef: %w", err)
		}
		if t.TLS, err = scanner.TLSFromSecretData(data); err != nil {
			return t, fmt.Errorf("secret %s/%s in spec.certSecretRef: %w", ns, ref.Name, err)
		}
	}
	if ref := repo.Spec.ProxySecretRef; ref != nil {
		data, err := store.GetSecretData(ctx, ns, ref.Name)
		if err != nil {
			return t, fmt.Errorf("reading spec.proxySecretRef: %w", err)
		}
		if t.Proxy, err = scanner.ProxyFromSecretData(data); err != nil {
			return t, fmt.Errorf("secret %s/%s in spec.proxySecretRef: %w", ns, ref.Name, err)
		}
	}
	return t, nil
}

// dependencyFailure handles a Secret or other input that could not be
// read: missing ones are waited for, broken ones are reported and retried
// (a Secret can be fixed without changing the object's spec).
func (e *Engine) dependencyFailure(obj conditioned, err error) Outcome {
	if errors.Is(err, ErrNotFound) {
		e.markNotReady(obj, imagev1.DependencyNotReadyReason, err.Error())
		return requeue(e.opts.DependencyRequeue)
	}
	e.markNotReady(obj, imagev1.DependencyNotReadyReason, err.Error())
	return failed(err)
}

// scanFailure classifies a failed scan once.
func (e *Engine) scanFailure(repo *imagev1.ImageRepository, err error) Outcome {
	err = fmt.Errorf("scanning %s: %w", repo.Spec.Image, err)
	switch {
	case errors.Is(err, scanner.ErrInvalid), errors.Is(err, scanner.ErrProviderHost), errors.Is(err, scanner.ErrInsecureRefused):
		e.markStalled(repo, imagev1.ImageURLInvalidReason, err.Error())
		repo.Status.ObservedGeneration = repo.Generation
		return terminal(err)
	case errors.Is(err, scanner.ErrUnauthorized), errors.Is(err, scanner.ErrForbidden):
		e.markNotReady(repo, imagev1.AuthenticationFailedReason, err.Error())
	default:
		e.markNotReady(repo, imagev1.ReadOperationFailedReason, err.Error())
	}
	out := failed(err)
	if d, ok := scanner.RetryAfter(err); ok {
		out.RequeueAfter = d
	}
	return out
}
