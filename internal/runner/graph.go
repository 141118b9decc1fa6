package runner

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// graph is who waits for whom: a policy for its ImageRepository, an
// automation for the policies its selector picks in its namespace.
type graph struct {
	deps       map[ObjectRef][]ObjectRef
	dependents map[ObjectRef][]ObjectRef
}

func (s *store) graph() graph {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := graph{deps: map[ObjectRef][]ObjectRef{}, dependents: map[ObjectRef][]ObjectRef{}}
	link := func(from, to ObjectRef) {
		g.deps[from] = append(g.deps[from], to)
		g.dependents[to] = append(g.dependents[to], from)
	}
	for _, p := range s.pols {
		ns := p.Spec.ImageRepositoryRef.Namespace
		if ns == "" {
			ns = p.Namespace
		}
		if _, ok := s.repos[nsName(ns, p.Spec.ImageRepositoryRef.Name)]; ok {
			link(ObjectRef{KindPolicy, p.Namespace, p.Name}, ObjectRef{KindRepository, ns, p.Spec.ImageRepositoryRef.Name})
		}
	}
	for _, a := range s.autos {
		sel := labels.Everything()
		if a.Spec.PolicySelector != nil {
			var err error
			if sel, err = metav1.LabelSelectorAsSelector(a.Spec.PolicySelector); err != nil {
				continue // the engine stalls it; nothing to wait for
			}
		}
		for _, p := range s.pols {
			if p.Namespace == a.Namespace && sel.Matches(labels.Set(p.Labels)) {
				link(ObjectRef{KindAutomation, a.Namespace, a.Name}, ObjectRef{KindPolicy, p.Namespace, p.Name})
			}
		}
	}
	return g
}
