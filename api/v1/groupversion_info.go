package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of every kind in this package.
const GroupName = "image.dockhand.dev"

// GroupVersion is the group and version of every kind in this package.
var GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}

var (
	// SchemeBuilder collects the functions that register this package's
	// kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme registers ImageRepository, ImagePolicy and
	// ImageUpdateAutomation (and their lists) with a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind names, as they appear in the kind field of an object.
const (
	ImageRepositoryKind       = "ImageRepository"
	ImagePolicyKind           = "ImagePolicy"
	ImageUpdateAutomationKind = "ImageUpdateAutomation"
)

// Resource returns the group-qualified resource for a plural resource name,
// e.g. Resource("imagepolicies").
func Resource(resource string) schema.GroupResource {
	return GroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ImageRepository{}, &ImageRepositoryList{},
		&ImagePolicy{}, &ImagePolicyList{},
		&ImageUpdateAutomation{}, &ImageUpdateAutomationList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
