package runner

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/internal/manifest"
)

// Kinds the runner reconciles, as they appear in Record.Kind and ObjectRef.
const (
	KindRepository = imagev1.ImageRepositoryKind
	KindPolicy     = imagev1.ImagePolicyKind
	KindAutomation = imagev1.ImageUpdateAutomationKind
)

// ObjectRef names one object of ours.
type ObjectRef struct {
	Kind      string
	Namespace string
	Name      string
}

func (r ObjectRef) String() string { return r.Kind + " " + r.Namespace + "/" + r.Name }

func nsName(namespace, name string) string { return namespace + "/" + name }

// store is the engine.Store over the objects loaded from files, with the
// statuses the runner has recorded. Every read returns a copy, and a step
// works on a copy whose status is written back when it ends, so steps
// running at the same time never share an object.
type store struct {
	mu    sync.RWMutex
	repos map[string]*imagev1.ImageRepository       // by namespace/name
	pols  map[string]*imagev1.ImagePolicy           // by namespace/name
	autos map[string]*imagev1.ImageUpdateAutomation // by namespace/name

	// Read-only after newStore.
	gitRepos   map[string]*unstructured.Unstructured
	secrets    map[string]*corev1.Secret
	sas        map[string][]string          // imagePullSecrets by namespace/name
	namespaces map[string]map[string]string // labels by name
}

var _ engine.Store = (*store)(nil)

func newStore(objs *manifest.Objects) *store {
	s := &store{
		repos:      map[string]*imagev1.ImageRepository{},
		pols:       map[string]*imagev1.ImagePolicy{},
		autos:      map[string]*imagev1.ImageUpdateAutomation{},
		gitRepos:   map[string]*unstructured.Unstructured{},
		secrets:    map[string]*corev1.Secret{},
		sas:        map[string][]string{},
		namespaces: map[string]map[string]string{},
	}
	for _, o := range objs.Repositories {
		s.repos[nsName(o.Namespace, o.Name)] = o.DeepCopy()
	}
	for _, o := range objs.Policies {
		s.pols[nsName(o.Namespace, o.Name)] = o.DeepCopy()
	}
	for _, o := range objs.Automations {
		s.autos[nsName(o.Namespace, o.Name)] = o.DeepCopy()
	}
	for _, o := range objs.GitRepositories {
		s.gitRepos[nsName(o.GetNamespace(), o.GetName())] = o.DeepCopy()
	}
	for _, o := range objs.Secrets {
		s.secrets[nsName(o.Namespace, o.Name)] = o.DeepCopy()
	}
	for _, o := range objs.ServiceAccounts {
		names := make([]string, 0, len(o.ImagePullSecrets))
		for _, r := range o.ImagePullSecrets {
			names = append(names, r.Name)
		}
		s.sas[nsName(o.Namespace, o.Name)] = names
	}
	for _, o := range objs.Namespaces {
		s.namespaces[o.Name] = maps.Clone(o.Labels)
	}
	return s
}

func notFound(kind, namespace, name string) error {
	return fmt.Errorf("%s %s/%s: %w", kind, namespace, name, engine.ErrNotFound)
}

// GetImageRepository implements engine.Store.
func (s *store) GetImageRepository(_ context.Context, namespace, name string) (*imagev1.ImageRepository, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.repos[nsName(namespace, name)]
	if !ok {
		return nil, notFound(KindRepository, namespace, name)
	}
	return o.DeepCopy(), nil
}

// ListImagePolicies implements engine.Store. Policies come sorted by name.
func (s *store) ListImagePolicies(_ context.Context, namespace string, selector labels.Selector) ([]*imagev1.ImagePolicy, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*imagev1.ImagePolicy
	for _, k := range slices.Sorted(maps.Keys(s.pols)) {
		p := s.pols[k]
		if p.Namespace == namespace && selector.Matches(labels.Set(p.Labels)) {
			out = append(out, p.DeepCopy())
		}
	}
	return out, nil
}

// GetSecretData implements engine.Store.
func (s *store) GetSecretData(_ context.Context, namespace, name string) (map[string][]byte, error) {
	sec, ok := s.secrets[nsName(namespace, name)]
	if !ok {
		return nil, notFound("Secret", namespace, name)
	}
	return maps.Clone(sec.Data), nil
}

// GetServiceAccountPullSecrets implements engine.Store over the
// ServiceAccounts in the files.
func (s *store) GetServiceAccountPullSecrets(_ context.Context, namespace, name string) ([]string, error) {
	names, ok := s.sas[nsName(namespace, name)]
	if !ok {
		return nil, notFound("ServiceAccount", namespace, name)
	}
	return slices.Clone(names), nil
}

// GetNamespaceLabels implements engine.Store over the Namespaces in the
// files; a namespace not in them is missing, which the engine reads as no
// labels.
func (s *store) GetNamespaceLabels(_ context.Context, namespace string) (map[string]string, error) {
	labels, ok := s.namespaces[namespace]
	if !ok {
		return nil, notFound("Namespace", "", namespace)
	}
	return maps.Clone(labels), nil
}

// GetGitRepository implements engine.Store.
func (s *store) GetGitRepository(_ context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	o, ok := s.gitRepos[nsName(namespace, name)]
	if !ok {
		return nil, notFound("GitRepository", namespace, name)
	}
	return o.DeepCopy(), nil
}

// The runner's own accessors.

func (s *store) policy(key string) *imagev1.ImagePolicy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pols[key].DeepCopy()
}

func (s *store) automation(key string) *imagev1.ImageUpdateAutomation {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.autos[key].DeepCopy()
}

func (s *store) repository(key string) *imagev1.ImageRepository {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.repos[key].DeepCopy()
}

func (s *store) setRepositoryStatus(key string, st imagev1.ImageRepositoryStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[key].Status = st
}

func (s *store) setPolicyStatus(key string, st imagev1.ImagePolicyStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pols[key].Status = st
}

func (s *store) setAutomationStatus(key string, st imagev1.ImageUpdateAutomationStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.autos[key].Status = st
}

// notReady lists the objects that are not suspended and whose Ready
// condition is not True.
func (s *store) notReady() []ObjectRef {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []ObjectRef
	for _, o := range s.repos {
		if !o.Spec.Suspend && readyStatus(o.Status.Conditions) != metav1.ConditionTrue {
			out = append(out, ObjectRef{KindRepository, o.Namespace, o.Name})
		}
	}
	for _, o := range s.pols {
		if !o.Spec.Suspend && readyStatus(o.Status.Conditions) != metav1.ConditionTrue {
			out = append(out, ObjectRef{KindPolicy, o.Namespace, o.Name})
		}
	}
	for _, o := range s.autos {
		if !o.Spec.Suspend && readyStatus(o.Status.Conditions) != metav1.ConditionTrue {
			out = append(out, ObjectRef{KindAutomation, o.Namespace, o.Name})
		}
	}
	return out
}

// refs lists every object of ours, repositories first, then policies,
// then automations, each sorted by namespace and name.
func (s *store) refs() []ObjectRef {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []ObjectRef
	add := func(kind string, keys []string) {
		for _, k := range keys {
			ns, name := splitKey(k)
			out = append(out, ObjectRef{Kind: kind, Namespace: ns, Name: name})
		}
	}
	add(KindRepository, slices.Sorted(maps.Keys(s.repos)))
	add(KindPolicy, slices.Sorted(maps.Keys(s.pols)))
	add(KindAutomation, slices.Sorted(maps.Keys(s.autos)))
	return out
}

func splitKey(k string) (namespace, name string) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return "", k
}
