package engine

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
)

// ErrNotFound is wrapped by a Store when an object does not exist. Any other
// error from a Store is a failure to read, never an empty object.
var ErrNotFound = errors.New("not found")

// Store is what the steps read besides the object they work on. The
// controller implements it over the API server, the runner over files.
type Store interface {
	// GetImageRepository returns the repository with its current status.
	GetImageRepository(ctx context.Context, namespace, name string) (*imagev1.ImageRepository, error)
	// ListImagePolicies returns the policies of a namespace that selector
	// matches, with their current status.
	ListImagePolicies(ctx context.Context, namespace string, selector labels.Selector) ([]*imagev1.ImagePolicy, error)
	// GetSecretData returns the data of a Secret.
	GetSecretData(ctx context.Context, namespace, name string) (map[string][]byte, error)
	// GetServiceAccountPullSecrets returns the names of the
	// imagePullSecrets of a service account.
	GetServiceAccountPullSecrets(ctx context.Context, namespace, name string) ([]string, error)
	// GetNamespaceLabels returns the labels of a namespace.
	GetNamespaceLabels(ctx context.Context, namespace string) (map[string]string, error)
	// GetGitRepository returns a Flux GitRepository (source.toolkit.fluxcd.io),
	// read without Flux's Go types.
	GetGitRepository(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error)
}
