package v1

import (
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxHistory bounds status.history of an ImageUpdateAutomation.
const MaxHistory = 10

// ImageUpdateAutomationSpec says which repository to update, where, with
// which policies and how often.
// +kubebuilder:validation:XValidation:rule="!(has(self.sourceRef) && has(self.git) && has(self.git.remote))",message="spec.sourceRef and spec.git.remote are mutually exclusive: set exactly one"
// +kubebuilder:validation:XValidation:rule="has(self.sourceRef) || (has(self.git) && has(self.git.remote))",message="one of spec.sourceRef or spec.git.remote must be set"
type ImageUpdateAutomationSpec struct {
	// SourceRef names the Flux GitRepository to update. Exactly one of
	// spec.sourceRef and spec.git.remote must be set. (Flux requires
	// sourceRef; here it is optional because git.remote can replace it.)
	// +optional
	SourceRef *CrossNamespaceSourceReference `json:"sourceRef,omitempty"`

	// GitSpec holds the Git details: remote, checkout, commit, push and
	// pull request.
	// +optional
	GitSpec *GitSpec `json:"git,omitempty"`

	// Interval is the time between automation runs.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval metav1.Duration `json:"interval"`

	// PolicySelector selects the ImagePolicies, in the automation's
	// namespace, whose latest images are applied. Defaults to every policy
	// in the namespace.
	// +optional
	PolicySelector *metav1.LabelSelector `json:"policySelector,omitempty"`

	// Update says how files are updated. Defaults to the Setters strategy at
	// the repository root.
	// +kubebuilder:default={"strategy":"Setters"}
	// +optional
	Update *UpdateStrategy `json:"update,omitempty"`

	// Suspend stops further runs until it is cleared. A run in progress is
	// not interrupted.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// CrossNamespaceSourceReference names a source object, possibly in another
// namespace.
type CrossNamespaceSourceReference struct {
	// APIVersion of the referent, e.g. source.toolkit.fluxcd.io/v1. When
	// empty, the version the cluster prefers.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the referent; only GitRepository is supported.
	// +kubebuilder:validation:Enum=GitRepository
	// +kubebuilder:default=GitRepository
	// +required
	Kind string `json:"kind"`

	// Name of the referent.
	// +required
	Name string `json:"name"`

	// Namespace of the referent. When empty, the automation's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// String returns Kind/Namespace/Name, or Kind/Name without a namespace.
func (in CrossNamespaceSourceReference) String() string {
	if in.Namespace == "" {
		return in.Kind + "/" + in.Name
	}
	return in.Kind + "/" + in.Namespace + "/" + in.Name
}

// UpdateStrategyName names a way of updating files.
// +kubebuilder:validation:Enum=Setters
type UpdateStrategyName string

// UpdateStrategySetters rewrites the YAML fields marked with setter comments
// ({"$imagepolicy": "namespace:name"}).
const UpdateStrategySetters UpdateStrategyName = "Setters"

// UpdateStrategy says how and where files are updated.
type UpdateStrategy struct {
	// Strategy names the update strategy. Defaults to Setters, the only one.
	// +kubebuilder:default=Setters
	// +optional
	Strategy UpdateStrategyName `json:"strategy,omitempty"`

	// Path is the directory, relative to the repository root, under which
	// files are updated. It may not be absolute nor contain a ".." element.
	// Defaults to the repository root.
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/')",message="spec.update.path must be relative to the repository root"
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)[.][.](/|$)')",message="spec.update.path must not contain '..'"
	// +optional
	Path string `json:"path,omitempty"`
}

// ImageUpdateAutomationStatus is the observed state of an
// ImageUpdateAutomation.
type ImageUpdateAutomationStatus struct {
	// LastAutomationRunTime is when the last run completed, whether or not
	// it changed anything.
	// +optional
	LastAutomationRunTime *metav1.Time `json:"lastAutomationRunTime,omitempty"`

	// LastPushCommit is the SHA of the last commit pushed.
	// +optional
	LastPushCommit string `json:"lastPushCommit,omitempty"`

	// LastPushTime is when the last commit was pushed.
	// +optional
	LastPushTime *metav1.Time `json:"lastPushTime,omitempty"`

	// ObservedGeneration is the metadata.generation last reconciled; -1
	// before the first reconciliation.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedPolicies are the policies the last run applied, by name, with
	// the image each elected.
	// +optional
	ObservedPolicies ObservedPolicies `json:"observedPolicies,omitempty"`

	// ObservedSourceRevision is the revision of the source the last run
	// started from, e.g. main@sha1:<commit>.
	// +optional
	ObservedSourceRevision string `json:"observedSourceRevision,omitempty"`

	// PullRequest is the pull request opened or updated last, when
	// spec.git.pullRequest is set. (dockhand extension.)
	// +optional
	PullRequest *PullRequestStatus `json:"pullRequest,omitempty"`

	// History lists the most recent runs, newest first, at most ten.
	// (dockhand extension.)
	// +kubebuilder:validation:MaxItems:=10
	// +optional
	History []AutomationRun `json:"history,omitempty"`

	ReconcileRequestStatus `json:",inline"`
}

// ObservedPolicies maps a policy name to the image it elected.
type ObservedPolicies map[string]ImageRef

// PullRequestStatus identifies a pull request.
type PullRequestStatus struct {
	// URL of the pull request, for people.
	// +required
	URL string `json:"url"`

	// Number of the pull request (GitLab: the merge request IID).
	// +required
	Number int `json:"number"`
}

// RunOutcome is how an automation run ended.
// +kubebuilder:validation:Enum=NoChange;Pushed;Failed
type RunOutcome string

const (
	// RunNoChange: every marked field was already up to date.
	RunNoChange RunOutcome = "NoChange"
	// RunPushed: a commit was pushed (and a pull request opened or updated,
	// if configured).
	RunPushed RunOutcome = "Pushed"
	// RunFailed: the run stopped with an error; see Message.
	RunFailed RunOutcome = "Failed"
)

// MaxRunMessageLength bounds AutomationRun.Message.
const MaxRunMessageLength = 1024

// AutomationRun records one run of an automation.
type AutomationRun struct {
	// Time the run started.
	// +required
	Time metav1.Time `json:"time"`

	// Outcome of the run: NoChange, Pushed or Failed.
	// +required
	Outcome RunOutcome `json:"outcome"`

	// Commit pushed by the run, if any.
	// +optional
	Commit string `json:"commit,omitempty"`

	// Duration of the run.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`

	// Message summarises the run: what changed, or the error. At most 1024
	// bytes.
	// +kubebuilder:validation:MaxLength:=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// RecordRun puts run at the front of the history, truncating its message to
// MaxRunMessageLength bytes (on a UTF-8 boundary) and dropping the oldest
// entries beyond MaxHistory.
func (in *ImageUpdateAutomationStatus) RecordRun(run AutomationRun) {
	run.Message = truncateUTF8(run.Message, MaxRunMessageLength)
	n := min(len(in.History)+1, MaxHistory)
	h := make([]AutomationRun, 0, n)
	h = append(h, run)
	h = append(h, in.History[:n-1]...)
	in.History = h
}

// truncateUTF8 shortens s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dhauto,categories=all;dockhand
// +kubebuilder:printcolumn:name="Last run",type=string,JSONPath=`.status.lastAutomationRunTime`,priority=1
// +kubebuilder:printcolumn:name="Last push",type=string,JSONPath=`.status.lastPushTime`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ImageUpdateAutomation updates the image references in a Git repository to
// the latest images elected by ImagePolicies, and pushes the result.
type ImageUpdateAutomation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ImageUpdateAutomationSpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status ImageUpdateAutomationStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *ImageUpdateAutomation) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the status conditions.
func (in *ImageUpdateAutomation) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetRequeueAfter returns the time until the next run: spec.interval.
func (in *ImageUpdateAutomation) GetRequeueAfter() time.Duration {
	return in.Spec.Interval.Duration
}

// GetUpdateStrategy returns spec.update with its defaults applied: the
// Setters strategy and, when unset, the root path ("").
func (in *ImageUpdateAutomation) GetUpdateStrategy() UpdateStrategy {
	u := UpdateStrategy{Strategy: UpdateStrategySetters}
	if in.Spec.Update != nil {
		u.Path = in.Spec.Update.Path
		if in.Spec.Update.Strategy != "" {
			u.Strategy = in.Spec.Update.Strategy
		}
	}
	return u
}

// +kubebuilder:object:root=true

// ImageUpdateAutomationList is a list of ImageUpdateAutomation.
type ImageUpdateAutomationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageUpdateAutomation `json:"items"`
}
