package runner

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dockhand-dev/dockhand/internal/manifest"
)

// reload looks at the manifests and, when they changed, loads them again
// with Manifests.Load, as at start.
//
// Invalid manifests are reported (Event.Reload.Err) and change nothing:
// the running objects go on as they were.
//
// Valid ones replace the running set between steps: steps waiting for a
// slot go back to the schedule, the steps under way finish (a push is
// never cut in half), then the new set is installed with the statuses,
// generations and creation times of the objects that were already there
// (a changed spec is a new generation), and the state file forgets the
// objects that are gone (State.Prune). Then:
//   - objects added or changed run at once, and so do those whose
//     dependencies changed (an automation whose selector now picks
//     another policy, a policy whose repository is gone), in dependency
//     order as in a pass;
//   - when a Secret, GitRepository, ServiceAccount or Namespace changed,
//     every object that is not Ready runs at once, in case that is what
//     it was missing;
//   - removed objects leave the schedule;
//   - the others keep their schedule and their backoff.
//
// When nothing that matters changed (an edit to a Deployment next to the
// objects, say), nothing waits.
func (s *scheduler) reload(ctx context.Context, stop <-chan struct{}) {
	r := s.r
	if !r.opts.Manifests.Changed() {
		return
	}
	objs, err := r.opts.Manifests.Load(ctx)
	if err != nil {
		r.emit(Event{Type: Reloaded, Reload: &Reload{Err: err}})
		return
	}
	old := r.set.Load()
	d := diffObjects(old.objs, objs)
	report := &Reload{Added: d.added, Changed: d.changed, Removed: d.removed}
	if d.none() {
		r.emit(Event{Type: Reloaded, Reload: report})
		return
	}

	// No step may run on the old set once the new one is current.
	close(s.hold)
	s.wg.Wait()
	s.hold = make(chan struct{})
	if err := r.writer.flush(); err != nil && s.writeErr == nil {
		s.writeErr = err
	}
	select {
	case <-stop:
		return // the next start loads the files anyway
	case <-ctx.Done():
		return
	default:
	}

	now := r.opts.Now()
	set, recs, err := newSet(objs, old.lookup, now)
	if err != nil {
		r.emit(Event{Type: Reloaded, Reload: &Reload{Err: fmt.Errorf("switching to the new manifests: %w", err)}})
		return
	}
	// A state file that cannot be written fails every step too; the new
	// objects run anyway, and Run's Summary reports the error.
	if err := r.persist(set, recs); err != nil && s.writeErr == nil {
		s.writeErr = err
	}
	r.set.Store(set)
	s.switched(old, set, d, now)
	r.emit(Event{Type: Reloaded, Reload: report})
}

// switched updates the schedule for the set now current (see reload).
// What it runs at once runs in dependency order, as in a pass: an object
// whose dependencies run too waits for their steps to end, so that an
// automation sees its policies' new latest images in one run.
func (s *scheduler) switched(old, cur *objectSet, d objectDiff, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ref := range s.next {
		if _, ok := cur.meta[ref]; !ok {
			delete(s.next, ref)
		}
	}
	for ref := range s.failures {
		if _, ok := cur.meta[ref]; !ok {
			delete(s.failures, ref)
		}
	}
	run := map[ObjectRef]bool{}
	for ref := range s.waiting { // from a reload before, still waiting
		if _, ok := cur.meta[ref]; ok {
			run[ref] = true
		}
	}
	clear(s.waiting)
	for _, ref := range d.changed {
		delete(s.failures, ref) // a new spec starts afresh
		run[ref] = true
	}
	for _, ref := range d.added {
		run[ref] = true
	}
	for ref := range cur.meta {
		if !sameRefs(old.deps.deps[ref], cur.deps.deps[ref]) {
			run[ref] = true
		}
	}
	if d.support {
		for _, ref := range cur.store.notReady() {
			run[ref] = true
		}
	}
	for ref := range run {
		on := map[ObjectRef]bool{}
		for _, dep := range cur.deps.deps[ref] {
			if run[dep] {
				on[dep] = true
			}
		}
		if len(on) == 0 {
			s.schedule(ref, now)
		} else {
			s.waiting[ref] = on
		}
	}
}

// objectDiff is how one load of the manifests differs from another.
type objectDiff struct {
	// added, changed (spec, labels or annotations) and removed objects of
	// ours, sorted as store.refs sorts them.
	added, changed, removed []ObjectRef
	// support: a Secret, GitRepository, ServiceAccount or Namespace was
	// added, removed or changed.
	support bool
	// moved: an object of ours is now at another file or line.
	moved bool
}

func (d objectDiff) none() bool {
	return len(d.added)+len(d.changed)+len(d.removed) == 0 && !d.support && !d.moved
}

// loadedObject is what diffObjects compares of one object of ours.
type loadedObject struct {
	specHash    string
	labels      map[string]string
	annotations map[string]string
	source      string
}

func diffObjects(before, after *manifest.Objects) objectDiff {
	was, is := loadedObjects(before), loadedObjects(after)
	var d objectDiff
	for ref, now := range is {
		prev, ok := was[ref]
		switch {
		case !ok:
			d.added = append(d.added, ref)
		case prev.specHash != now.specHash || !maps.Equal(prev.labels, now.labels) || !maps.Equal(prev.annotations, now.annotations):
			d.changed = append(d.changed, ref)
		case prev.source != now.source:
			d.moved = true
		}
	}
	for ref := range was {
		if _, ok := is[ref]; !ok {
			d.removed = append(d.removed, ref)
		}
	}
	for _, refs := range [][]ObjectRef{d.added, d.changed, d.removed} {
		slices.SortFunc(refs, compareRefs)
	}
	d.support = !reflect.DeepEqual(keyed(before.GitRepositories), keyed(after.GitRepositories)) ||
		!reflect.DeepEqual(keyed(before.Secrets), keyed(after.Secrets)) ||
		!reflect.DeepEqual(keyed(before.ServiceAccounts), keyed(after.ServiceAccounts)) ||
		!reflect.DeepEqual(keyed(before.Namespaces), keyed(after.Namespaces))
	return d
}

func loadedObjects(objs *manifest.Objects) map[ObjectRef]loadedObject {
	out := map[ObjectRef]loadedObject{}
	add := func(kind string, om *metav1.ObjectMeta, spec any) {
		ref := ObjectRef{Kind: kind, Namespace: om.Namespace, Name: om.Name}
		hash, err := specHash(spec)
		if err != nil {
			hash = "unhashable: " + err.Error() // newSet reports it
		}
		o := loadedObject{specHash: hash, labels: om.Labels, annotations: om.Annotations}
		if src, ok := objs.SourceOf(kind, om.Namespace, om.Name); ok {
			o.source = src.String()
		}
		out[ref] = o
	}
	for _, o := range objs.Repositories {
		add(KindRepository, &o.ObjectMeta, o.Spec)
	}
	for _, o := range objs.Policies {
		add(KindPolicy, &o.ObjectMeta, o.Spec)
	}
	for _, o := range objs.Automations {
		add(KindAutomation, &o.ObjectMeta, o.Spec)
	}
	return out
}

// keyed indexes objects by namespace/name, so that their order in the
// files does not matter.
func keyed[T metav1.Object](items []T) map[string]T {
	out := make(map[string]T, len(items))
	for _, o := range items {
		out[nsName(o.GetNamespace(), o.GetName())] = o
	}
	return out
}

// compareRefs orders as store.refs does: repositories, policies, then
// automations, each by namespace/name.
func compareRefs(a, b ObjectRef) int {
	if c := kindRank(a.Kind) - kindRank(b.Kind); c != 0 {
		return c
	}
	return strings.Compare(nsName(a.Namespace, a.Name), nsName(b.Namespace, b.Name))
}

func kindRank(kind string) int {
	switch kind {
	case KindRepository:
		return 0
	case KindPolicy:
		return 1
	}
	return 2
}

func sameRefs(a, b []ObjectRef) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[ObjectRef]bool, len(a))
	for _, ref := range a {
		in[ref] = true
	}
	for _, ref := range b {
		if !in[ref] {
			return false
		}
	}
	return true
}
