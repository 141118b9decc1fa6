package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultDigestInterval is how often the digest of the latest tag is read
// again when spec.digestReflectionPolicy is Always and no interval is given
// (only possible for objects that bypassed API validation).
const DefaultDigestInterval = 10 * time.Minute

// ImagePolicySpec says which tags of an ImageRepository are candidates and how
// the latest one is chosen.
// +kubebuilder:validation:XValidation:rule="!has(self.interval) || (has(self.digestReflectionPolicy) && self.digestReflectionPolicy == 'Always')",message="spec.interval is only accepted when spec.digestReflectionPolicy is 'Always'",fieldPath=".interval"
// +kubebuilder:validation:XValidation:rule="has(self.interval) || !has(self.digestReflectionPolicy) || self.digestReflectionPolicy != 'Always'",message="spec.interval must be set when spec.digestReflectionPolicy is 'Always'",fieldPath=".interval"
type ImagePolicySpec struct {
	// ImageRepositoryRef names the ImageRepository whose tags are
	// considered. A repository in another namespace must allow it in its
	// spec.accessFrom.
	// +required
	ImageRepositoryRef NamespacedObjectReference `json:"imageRepositoryRef"`

	// Policy chooses the latest tag: exactly one of semver, alphabetical,
	// numerical.
	// +required
	Policy ImagePolicyChoice `json:"policy"`

	// FilterTags narrows the candidate tags, and optionally rewrites them
	// before the policy compares them. Without it every tag is a candidate.
	// +optional
	FilterTags *TagFilter `json:"filterTags,omitempty"`

	// DigestReflectionPolicy governs status.latestRef.digest:
	//
	// Never: the digest is always empty.
	//
	// IfNotPresent: the digest is read once when the latest tag changes, and
	// kept while the tag stays the same.
	//
	// Always: the digest is read again every spec.interval, so a tag that is
	// moved to a new image is noticed.
	//
	// Defaults to Never.
	// +kubebuilder:default:=Never
	// +optional
	DigestReflectionPolicy ReflectionPolicy `json:"digestReflectionPolicy,omitempty"`

	// Interval is the time between digest refreshes. Required when
	// digestReflectionPolicy is Always and not allowed otherwise.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Suspend stops further evaluation of the policy until it is cleared;
	// status.latestRef keeps its value.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ReflectionPolicy says when a value is copied from the registry into the
// status.
// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
type ReflectionPolicy string

const (
	// ReflectAlways reads the value again at every interval, replacing the
	// previous one.
	ReflectAlways ReflectionPolicy = "Always"
	// ReflectIfNotPresent reads the value only when there is none for the
	// current tag.
	ReflectIfNotPresent ReflectionPolicy = "IfNotPresent"
	// ReflectNever never reads the value.
	ReflectNever ReflectionPolicy = "Never"
)

// ImagePolicyChoice is a union: exactly one member is set.
// +kubebuilder:validation:XValidation:rule="[has(self.semver), has(self.alphabetical), has(self.numerical)].filter(x, x).size() == 1",message="spec.policy must set exactly one of semver, alphabetical, numerical"
type ImagePolicyChoice struct {
	// SemVer elects the highest tag that is a semantic version within a
	// range.
	// +optional
	SemVer *SemVerPolicy `json:"semver,omitempty"`

	// Alphabetical elects a tag by alphabetical order.
	// +optional
	Alphabetical *AlphabeticalPolicy `json:"alphabetical,omitempty"`

	// Numerical elects a tag by numerical order; tags that are not numbers
	// are ignored.
	// +optional
	Numerical *NumericalPolicy `json:"numerical,omitempty"`
}

// SemVerPolicy elects the highest semantic version within a range.
type SemVerPolicy struct {
	// Range is a semver constraint, e.g. ">=1.0.0 <2.0.0" or "1.x"; the
	// highest tag that satisfies it is elected.
	// +required
	Range string `json:"range"`
}

// Sort orders of AlphabeticalPolicy and NumericalPolicy.
const (
	OrderAsc  = "asc"
	OrderDesc = "desc"
)

// AlphabeticalPolicy elects a tag by alphabetical order.
type AlphabeticalPolicy struct {
	// Order is asc, which elects the last tag in alphabetical order (given
	// tags a to z, z), or desc, which elects the first (a). Defaults to
	// asc.
	// +kubebuilder:default:="asc"
	// +kubebuilder:validation:Enum=asc;desc
	// +optional
	Order string `json:"order,omitempty"`
}

// NumericalPolicy elects a tag by numerical order.
type NumericalPolicy struct {
	// Order is asc, which elects the largest number (given tags 0 to 9, 9),
	// or desc, which elects the smallest (0). Defaults to asc.
	// +kubebuilder:default:="asc"
	// +kubebuilder:validation:Enum=asc;desc
	// +optional
	Order string `json:"order,omitempty"`
}

// TagFilter narrows the candidate tags with a regular expression.
type TagFilter struct {
	// Pattern is a regular expression (Go RE2 syntax); only tags it matches
	// are candidates.
	// +optional
	Pattern string `json:"pattern"`

	// Extract is a template, e.g. "$ts" or "$1", expanded with the groups
	// Pattern captured; the policy compares the expanded values instead of
	// the tags. The elected tag is still reported whole.
	// +optional
	Extract string `json:"extract"`
}

// ImagePolicyStatus is the observed state of an ImagePolicy.
type ImagePolicyStatus struct {
	// LatestRef is the image reference elected by the policy.
	// +optional
	LatestRef *ImageRef `json:"latestRef,omitempty"`

	// ObservedPreviousRef is the LatestRef before the last change, so a
	// consumer can tell what changed.
	// +optional
	ObservedPreviousRef *ImageRef `json:"observedPreviousRef,omitempty"`

	// ObservedGeneration is the metadata.generation last reconciled; -1
	// before the first reconciliation.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	ReconcileRequestStatus `json:",inline"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dhpol,categories=all;dockhand
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.status.latestRef.name`
// +kubebuilder:printcolumn:name="Tag",type=string,JSONPath=`.status.latestRef.tag`
// +kubebuilder:printcolumn:name="Digest",type=string,JSONPath=`.status.latestRef.digest`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ImagePolicy elects the latest image of an ImageRepository.
type ImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ImagePolicySpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status ImagePolicyStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *ImagePolicy) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the status conditions.
func (in *ImagePolicy) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetDigestReflectionPolicy returns spec.digestReflectionPolicy, or
// ReflectNever when it is empty.
func (in *ImagePolicy) GetDigestReflectionPolicy() ReflectionPolicy {
	if in.Spec.DigestReflectionPolicy == "" {
		return ReflectNever
	}
	return in.Spec.DigestReflectionPolicy
}

// GetInterval returns the time between digest refreshes: spec.interval (or
// DefaultDigestInterval when unset or zero) when the reflection policy is
// Always, and 0, meaning no periodic refresh, otherwise.
func (in *ImagePolicy) GetInterval() time.Duration {
	if in.GetDigestReflectionPolicy() != ReflectAlways {
		return 0
	}
	if in.Spec.Interval == nil || in.Spec.Interval.Duration == 0 {
		return DefaultDigestInterval
	}
	return in.Spec.Interval.Duration
}

// +kubebuilder:object:root=true

// ImagePolicyList is a list of ImagePolicy.
type ImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImagePolicy `json:"items"`
}
