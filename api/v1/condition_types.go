package v1

// Condition types. They follow the Kubernetes conventions (and Flux's, which
// kstatus understands): Ready is the summary; Reconciling is True while work
// is in progress; Stalled is True when the controller cannot make progress
// without a change to the spec.
const (
	ReadyCondition       = "Ready"
	ReconcilingCondition = "Reconciling"
	StalledCondition     = "Stalled"
)

// Reasons shared by every kind.
const (
	// SucceededReason: the last reconciliation completed.
	SucceededReason = "Succeeded"
	// ProgressingReason: a reconciliation is in progress.
	ProgressingReason = "Progressing"
	// SuspendedReason: spec.suspend is true; nothing is done until it is
	// cleared.
	SuspendedReason = "Suspended"
	// InvalidSpecReason: the spec cannot work as written (e.g. a regular
	// expression that does not compile); the object is Stalled.
	InvalidSpecReason = "InvalidSpec"
	// DependencyNotReadyReason: a referenced object is missing or not
	// Ready yet; retried after a delay.
	DependencyNotReadyReason = "DependencyNotReady"
	// AccessDeniedReason: a cross-namespace reference is not allowed by the
	// referent's spec.accessFrom or by the controller's settings.
	AccessDeniedReason = "AccessDenied"
	// AuthenticationFailedReason: a Secret lacks the required keys or the
	// server refused the credentials.
	AuthenticationFailedReason = "AuthenticationFailed"
)

// Reasons of ImageRepository.
const (
	// ImageURLInvalidReason: spec.image is not a valid repository name.
	ImageURLInvalidReason = "ImageURLInvalid"
	// ReadOperationFailedReason: listing tags (or reading the tag store)
	// failed.
	ReadOperationFailedReason = "ReadOperationFailed"
)

// Reasons of ImagePolicy.
const (
	// PolicyInvalidReason: the policy or tag filter cannot be evaluated,
	// e.g. a semver range that does not parse.
	PolicyInvalidReason = "PolicyInvalid"
	// NoMatchingTagReason: no scanned tag passes the filter and the policy.
	NoMatchingTagReason = "NoMatchingTag"
	// DigestLookupFailedReason: the digest of the latest tag could not be
	// read from the registry.
	DigestLookupFailedReason = "DigestLookupFailed"
)

// Reasons of ImageUpdateAutomation.
const (
	// InvalidSourceConfigReason: the source (sourceRef or git.remote) is
	// unusable as configured.
	InvalidSourceConfigReason = "InvalidSourceConfiguration"
	// InvalidPolicySelectorReason: spec.policySelector is not a valid
	// selector.
	InvalidPolicySelectorReason = "InvalidPolicySelector"
	// InvalidUpdateStrategyReason: spec.update names a strategy or path that
	// cannot be used.
	InvalidUpdateStrategyReason = "InvalidUpdateStrategy"
	// GitOperationFailedReason: clone, fetch, commit or push failed.
	GitOperationFailedReason = "GitOperationFailed"
	// UpdateFailedReason: rewriting the files failed.
	UpdateFailedReason = "UpdateFailed"
	// PullRequestFailedReason: opening or updating the pull request failed.
	PullRequestFailedReason = "PullRequestFailed"
)

// Annotations that request a reconciliation outside the schedule. Any change
// of value is a new request; the handled value is kept in
// status.lastHandledReconcileAt. Both are honoured: ours, and Flux's, so that
// `flux reconcile` and existing tooling keep working.
const (
	ReconcileRequestAnnotation     = "image.dockhand.dev/requestedAt"
	FluxReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt"
)
