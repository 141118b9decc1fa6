// Package v1 holds the Go types of dockhand's Kubernetes API, group
// image.dockhand.dev, version v1: ImageRepository, ImagePolicy and
// ImageUpdateAutomation.
//
// The three kinds form a pipeline. An ImageRepository names a container image
// repository and how to reach it; dockhand scans its tags every
// spec.interval and keeps a summary in status.lastScanResult (the full tag
// list lives in the scanner's TagStore, not in the object). An ImagePolicy
// points at an ImageRepository, filters its tags and elects the latest one
// with exactly one of a semver range, alphabetical or numerical ordering; the
// winner is published in status.latestRef. An ImageUpdateAutomation checks
// out a Git repository, rewrites the fields marked with setter comments under
// spec.update.path to the latest references of the selected policies, commits
// and pushes, or opens a pull request.
//
// Field for field the kinds are a superset of Flux's
// image.toolkit.fluxcd.io/v1: JSON names, defaults and validation match, so an
// object written for Flux works here once its apiVersion is changed. The
// additions are:
//
//   - ImageUpdateAutomation spec.git.remote: a Git URL and credentials given
//     directly, for users without Flux's GitRepository. Exactly one of
//     spec.sourceRef and spec.git.remote must be set, so spec.sourceRef, which
//     Flux requires, is optional here.
//   - ImageUpdateAutomation spec.git.pullRequest: open or update a pull
//     request (GitHub, GitLab or Gitea) instead of pushing to the base branch,
//     with an optional apiURL for self-hosted instances.
//   - ImageUpdateAutomation status.pullRequest and status.history, a bounded
//     list of the most recent runs.
//   - Checks Flux leaves to the controller, done by the API server: exactly
//     one policy choice (CEL); spec.update.path relative, free of ".." and at
//     most 4096 bytes (CEL); at most ten latestTags; and the default "gpg"
//     for spec.git.commit.signingKey.type.
//   - ImageRepository spec.timeout also accepts hours ("1h"), like every
//     other duration here; Flux's pattern stops at minutes.
//
// Defaults applied by the API server, which a reader of an object that did not
// pass through one (a manifest file read by the runner) must apply itself; the
// Get* helpers on each kind do:
//
//   - ImageRepository: exclusionList ["^.*\\.sig$"], provider "generic";
//     timeout falls back to interval.
//   - ImagePolicy: digestReflectionPolicy "Never"; alphabetical and numerical
//     order "asc"; interval, used only with "Always", falls back to 10m.
//   - ImageUpdateAutomation: update {strategy: Setters}; sourceRef.kind
//     "GitRepository"; git.remote.provider "generic";
//     git.commit.signingKey.type "gpg".
//
// This package imports only the standard library and k8s.io/apimachinery (see
// depcheck_test.go), so the CLI, the runner and other tools can use the types
// without pulling in client-go or controller-runtime. The deepcopy functions in
// zz_generated.deepcopy.go and the CRDs in config/crd/bases are generated from
// the kubebuilder markers here with `make generate`.
//
// +kubebuilder:object:generate=true
// +groupName=image.dockhand.dev
package v1
