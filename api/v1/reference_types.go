package v1

// LocalObjectReference names an object in the namespace of the object that
// holds the reference; for example a Secret.
type LocalObjectReference struct {
	// Name of the referent.
	// +required
	Name string `json:"name"`
}

// NamespacedObjectReference names an object that may live in another
// namespace.
type NamespacedObjectReference struct {
	// Name of the referent.
	// +required
	Name string `json:"name"`

	// Namespace of the referent. When empty, the namespace of the object
	// holding the reference.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// AccessFrom is the list of namespaces allowed to refer to an object from
// another namespace. References from the object's own namespace are always
// allowed.
type AccessFrom struct {
	// NamespaceSelectors select the namespaces allowed to refer to the
	// object. A namespace is allowed when any one of the selectors matches
	// it.
	// +required
	NamespaceSelectors []NamespaceSelector `json:"namespaceSelectors"`
}

// NamespaceSelector selects namespaces by their labels.
type NamespaceSelector struct {
	// MatchLabels selects the namespaces whose labels include every
	// key/value pair given. An empty map selects every namespace.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// ReconcileRequestStatus records the last on-demand reconcile request that a
// controller handled. It is inlined in the status of every kind.
type ReconcileRequestStatus struct {
	// LastHandledReconcileAt is the value of the reconcile-request
	// annotation (see ReconcileRequestAnnotation) when the object was last
	// reconciled, so that a new value can be told apart from one already
	// handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// GetLastHandledReconcileRequest returns the last reconcile-request value
// handled.
func (in ReconcileRequestStatus) GetLastHandledReconcileRequest() string {
	return in.LastHandledReconcileAt
}

// SetLastHandledReconcileRequest records value as handled.
func (in *ReconcileRequestStatus) SetLastHandledReconcileRequest(value string) {
	in.LastHandledReconcileAt = value
}

// ImageRef is an image reference split into its parts.
type ImageRef struct {
	// Name is the image name without tag or digest, e.g.
	// ghcr.io/org/app.
	// +required
	Name string `json:"name"`

	// Tag is the image tag.
	// +required
	Tag string `json:"tag"`

	// Digest is the digest of the image manifest or index the tag pointed
	// at, e.g. sha256:...; empty unless digest reflection is on.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// String returns the reference as name:tag, or name:tag@digest when the
// digest is known.
func (in ImageRef) String() string {
	s := in.Name + ":" + in.Tag
	if in.Digest != "" {
		s += "@" + in.Digest
	}
	return s
}
