package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/engine"
)

// GitRepositoryGVK is Flux's GitRepository, read as unstructured so that
// dockhand does not depend on Flux's Go types and works whether or not
// Flux is installed.
var GitRepositoryGVK = schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "GitRepository"}

// Store is the engine's view of the API server.
//
// Our own kinds are read from Cached (the manager's client, backed by the
// informers the controllers already run). Secrets, ServiceAccounts,
// Namespaces and GitRepositories are read from Live (the manager's API
// reader), as Flux's controllers do: caching every Secret of the cluster
// costs memory and a cluster-wide watch for the few that are referenced.
type Store struct {
	Cached client.Reader
	Live   client.Reader
	// Namespaces are the namespaces the cache holds; nil means all. An
	// ImageRepository elsewhere is reported missing, with the reason.
	Namespaces map[string]bool
}

var _ engine.Store = Store{}

// GetImageRepository implements engine.Store.
func (s Store) GetImageRepository(ctx context.Context, namespace, name string) (*imagev1.ImageRepository, error) {
	if s.Namespaces != nil && !s.Namespaces[namespace] {
		return nil, fmt.Errorf("ImageRepository %s/%s is in a namespace this controller does not watch: %w", namespace, name, engine.ErrNotFound)
	}
	repo := &imagev1.ImageRepository{}
	if err := get(ctx, s.Cached, namespace, name, repo); err != nil {
		return nil, err
	}
	return repo, nil
}

// ListImagePolicies implements engine.Store.
func (s Store) ListImagePolicies(ctx context.Context, namespace string, selector labels.Selector) ([]*imagev1.ImagePolicy, error) {
	var list imagev1.ImagePolicyList
	opts := []client.ListOption{client.InNamespace(namespace)}
	if selector != nil && !selector.Empty() {
		opts = append(opts, client.MatchingLabelsSelector{Selector: selector})
	}
	if err := s.Cached.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing ImagePolicies in %s: %w", namespace, err)
	}
	out := make([]*imagev1.ImagePolicy, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// GetSecretData implements engine.Store.
func (s Store) GetSecretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	secret := &corev1.Secret{}
	if err := get(ctx, s.Live, namespace, name, secret); err != nil {
		return nil, err
	}
	return secret.Data, nil
}

// GetServiceAccountPullSecrets implements engine.Store.
func (s Store) GetServiceAccountPullSecrets(ctx context.Context, namespace, name string) ([]string, error) {
	sa := &corev1.ServiceAccount{}
	if err := get(ctx, s.Live, namespace, name, sa); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(sa.ImagePullSecrets))
	for _, ref := range sa.ImagePullSecrets {
		if ref.Name != "" {
			names = append(names, ref.Name)
		}
	}
	return names, nil
}

// GetNamespaceLabels implements engine.Store.
func (s Store) GetNamespaceLabels(ctx context.Context, namespace string) (map[string]string, error) {
	ns := &corev1.Namespace{}
	if err := get(ctx, s.Live, "", namespace, ns); err != nil {
		return nil, err
	}
	return ns.Labels, nil
}

// GetGitRepository implements engine.Store. Without Flux's CRD installed
// the API server knows no such kind; that is reported as not found, so an
// automation waits for it like for any other missing dependency.
func (s Store) GetGitRepository(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(GitRepositoryGVK)
	if err := get(ctx, s.Live, namespace, name, u); err != nil {
		return nil, err
	}
	return u, nil
}

// get reads one object, wrapping NotFound (and an unknown kind) in
// engine.ErrNotFound and any other failure as an error of its own.
func get(ctx context.Context, r client.Reader, namespace, name string, obj client.Object) error {
	err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
	if err == nil {
		return nil
	}
	kind := kindOf(obj)
	what := kind + " " + name
	if namespace != "" {
		what = kind + " " + namespace + "/" + name
	}
	if apierrors.IsNotFound(err) || isNoMatch(err) {
		return fmt.Errorf("%s: %w", what, engine.ErrNotFound)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

func kindOf(obj client.Object) string {
	switch o := obj.(type) {
	case *corev1.Secret:
		return "Secret"
	case *corev1.ServiceAccount:
		return "ServiceAccount"
	case *corev1.Namespace:
		return "Namespace"
	case *imagev1.ImageRepository:
		return imagev1.ImageRepositoryKind
	case *unstructured.Unstructured:
		return o.GetKind()
	}
	return fmt.Sprintf("%T", obj)
}
