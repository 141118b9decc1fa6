package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of ImageRepository, applied by the API server and by the Get*
// helpers for objects that did not pass through one.
const (
	// DefaultExclusionPattern keeps cosign signature tags out of the tag
	// store.
	DefaultExclusionPattern = `^.*\.sig$`
	// MaxExclusionListItems bounds spec.exclusionList.
	MaxExclusionListItems = 25
	// MaxLatestTags bounds status.lastScanResult.latestTags.
	MaxLatestTags = 10
)

// Registry providers, which decide how dockhand obtains credentials when no
// Secret is given.
const (
	ProviderGeneric = "generic"
	ProviderAWS     = "aws"
	ProviderAzure   = "azure"
	ProviderGCP     = "gcp"
)

// ImageRepositorySpec says which image repository to scan, how often and
// with which credentials.
type ImageRepositorySpec struct {
	// Image is the image repository to scan, without tag or digest, e.g.
	// ghcr.io/org/app or alpine (short for docker.io/library/alpine).
	// +required
	Image string `json:"image"`

	// Interval is the time between scans, e.g. 5m.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval metav1.Duration `json:"interval"`

	// Timeout bounds one scan. Defaults to the interval.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// SecretRef names a Secret of type kubernetes.io/dockerconfigjson
	// holding registry credentials (as made by `kubectl create secret
	// docker-registry`).
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// ServiceAccountName names a ServiceAccount whose imagePullSecrets are
	// used as registry credentials.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// CertSecretRef names a Secret (type Opaque or kubernetes.io/tls)
	// with TLS material for the registry: ca.crt, a PEM CA bundle to trust,
	// and/or tls.crt and tls.key, a client certificate and key.
	// +optional
	CertSecretRef *LocalObjectReference `json:"certSecretRef,omitempty"`

	// ProxySecretRef names a Secret with the HTTP(S) proxy to use for the
	// registry: key address (a URL), and optionally username and password.
	// +optional
	ProxySecretRef *LocalObjectReference `json:"proxySecretRef,omitempty"`

	// Insecure allows plain HTTP to the registry.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// ExclusionList holds regular expressions; tags matching any of them are
	// not stored. Defaults to ["^.*\\.sig$"], which skips cosign
	// signatures.
	// +kubebuilder:default:={"^.*\\.sig$"}
	// +kubebuilder:validation:MaxItems:=25
	// +optional
	ExclusionList []string `json:"exclusionList,omitempty"`

	// Provider selects how credentials are obtained when no secret is
	// given: generic (none, or from secretRef and serviceAccountName), aws
	// (ECR), azure (ACR) or gcp (GAR/GCR). Defaults to generic.
	// +kubebuilder:validation:Enum=generic;aws;azure;gcp
	// +kubebuilder:default:=generic
	// +optional
	Provider string `json:"provider,omitempty"`

	// Suspend stops further scans until it is cleared. A scan in progress
	// is not interrupted.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// AccessFrom lists the namespaces whose ImagePolicies may refer to this
	// repository. Without it, only policies in the same namespace may.
	// +optional
	AccessFrom *AccessFrom `json:"accessFrom,omitempty"`
}

// ScanResult summarises the last scan. The full tag list is kept outside the
// object (in the tag store), so the object stays small however many tags the
// repository has.
type ScanResult struct {
	// Revision is a stable hash of the scanned tag list; it changes exactly
	// when the list does.
	// +optional
	Revision string `json:"revision"`

	// TagCount is the number of tags stored by the scan, after exclusions.
	// +required
	TagCount int `json:"tagCount"`

	// ScanTime is when the scan finished.
	// +optional
	ScanTime metav1.Time `json:"scanTime"`

	// LatestTags is a sample of the stored tags: the first ten in
	// descending alphabetical order.
	// +kubebuilder:validation:MaxItems:=10
	// +optional
	LatestTags []string `json:"latestTags,omitempty"`
}

// ImageRepositoryStatus is the observed state of an ImageRepository.
type ImageRepositoryStatus struct {
	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the metadata.generation last reconciled; -1
	// before the first reconciliation.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// CanonicalImageName is spec.image with the implied parts made explicit,
	// e.g. docker.io/library/alpine for alpine.
	// +optional
	CanonicalImageName string `json:"canonicalImageName,omitempty"`

	// LastScanResult summarises the last successful scan.
	// +optional
	LastScanResult *ScanResult `json:"lastScanResult,omitempty"`

	// ObservedExclusionList is the exclusion list the last scan applied.
	// +optional
	ObservedExclusionList []string `json:"observedExclusionList,omitempty"`

	ReconcileRequestStatus `json:",inline"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dhrepo,categories=all;dockhand
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`
// +kubebuilder:printcolumn:name="Tags",type=string,JSONPath=`.status.lastScanResult.tagCount`
// +kubebuilder:printcolumn:name="Last scan",type=string,JSONPath=`.status.lastScanResult.scanTime`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ImageRepository scans an image repository for tags at an interval.
type ImageRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ImageRepositorySpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status ImageRepositoryStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *ImageRepository) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the status conditions.
func (in *ImageRepository) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetRequeueAfter returns the time until the next scan: spec.interval.
func (in *ImageRepository) GetRequeueAfter() time.Duration {
	return in.Spec.Interval.Duration
}

// GetTimeout returns spec.timeout, or spec.interval when no timeout is set,
// and never less than one second.
func (in *ImageRepository) GetTimeout() time.Duration {
	d := in.Spec.Interval.Duration
	if in.Spec.Timeout != nil {
		d = in.Spec.Timeout.Duration
	}
	return max(d, time.Second)
}

// GetExclusionList returns spec.exclusionList, or the default list
// [DefaultExclusionPattern] when it is empty.
func (in *ImageRepository) GetExclusionList() []string {
	if len(in.Spec.ExclusionList) == 0 {
		return []string{DefaultExclusionPattern}
	}
	return in.Spec.ExclusionList
}

// GetProvider returns spec.provider, or ProviderGeneric when it is empty.
func (in *ImageRepository) GetProvider() string {
	if in.Spec.Provider == "" {
		return ProviderGeneric
	}
	return in.Spec.Provider
}

// +kubebuilder:object:root=true

// ImageRepositoryList is a list of ImageRepository.
type ImageRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageRepository `json:"items"`
}
