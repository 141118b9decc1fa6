package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/internal/manifest"
)

// Options wire a Runner. Objects, Engine and State are required; the zero
// value of every other field is documented on it.
type Options struct {
	// Objects are what manifest.Load found (already validated), as
	// Manifests.Load returns them.
	Objects *manifest.Objects
	// Manifests are the files Objects came from. With them, Run looks at
	// the files every ReloadInterval and, when they changed, loads them
	// again and switches to the new objects between steps (see Run); Once
	// ignores them. They also say which records of the state file are this
	// Runner's to forget (State.Prune): those read from Manifests.Paths.
	// Nil: the objects never change, and every record is this Runner's.
	Manifests *Manifests
	// NoReload keeps Run from looking at Manifests again: the objects
	// never change, and Manifests only say where they came from. Default
	// false.
	NoReload bool
	// ReloadInterval is how often Run looks at Manifests. Zero means 5
	// seconds.
	ReloadInterval time.Duration
	// ReloadPoll, when set, replaces the ReloadInterval ticker: Run looks
	// at Manifests each time it receives from it (tests use it to decide
	// when). Default nil.
	ReloadPoll <-chan time.Time
	// Engine runs the steps. Its TagStore must be State.Tags().
	Engine *engine.Engine
	// State keeps the statuses between runs.
	State *State
	// Concurrency bounds the steps running at once. Zero means 8.
	Concurrency int
	// DryRun plans automations (engine.PlanAutomation) instead of running
	// them: nothing is committed or pushed. Repositories are still scanned
	// and policies evaluated; callers that want to leave the state file
	// untouched give the Runner a copy (State.CopyTo). Default false.
	DryRun bool
	// OnEvent is told when a step starts and ends, from the goroutine
	// running it (so it must be safe for concurrent use). Nil: nobody.
	OnEvent func(Event)
	// RetryBase and RetryMax bound the exponential backoff after a failed
	// step in Run. Zero means 2 seconds and 5 minutes.
	RetryBase, RetryMax time.Duration
	// Now tells the time. Nil means time.Now.
	Now func() time.Time
}

// EventType says what an Event reports.
type EventType int

const (
	// StepStarted: a step is about to run.
	StepStarted EventType = iota
	// StepFinished: a step ended; Event.Result tells how.
	StepFinished
	// PassFinished: a pass over every object ended (Once's only pass, or
	// Run's first); Event.Summary tells how.
	PassFinished
	// Reloaded: Run found the manifests changed and loaded them again;
	// Event.Reload tells what changed, or why the new ones are not used.
	Reloaded
)

// Event is one thing the runner did, for progress and logs.
type Event struct {
	Type    EventType
	Ref     ObjectRef
	Result  *Result  // StepFinished only
	Summary *Summary // PassFinished only
	Reload  *Reload  // Reloaded only
}

// Reload is what a reload of the manifests did.
type Reload struct {
	// Added, Changed and Removed list the objects new in the manifests,
	// those whose spec, labels or annotations changed (a changed spec is a
	// new generation), and those gone, each sorted as Refs sorts them.
	Added, Changed, Removed []ObjectRef
	// Err says why the new manifests were not used (a *ManifestError
	// lists each problem with its file and line); the objects loaded
	// before keep running, and the files are loaded again when they
	// change again.
	Err error
}

// Result is how one step ended.
type Result struct {
	Ref ObjectRef
	// Object is a copy of the object after the step, with its status:
	// *imagev1.ImageRepository, *imagev1.ImagePolicy or
	// *imagev1.ImageUpdateAutomation.
	Object any
	// Ready is the object's Ready condition after the step (nil when it
	// has none, e.g. a suspended object never reconciled).
	Ready *metav1.Condition
	// Outcome is what the engine returned.
	Outcome engine.Outcome
	// Plan is what an automation changed (or, in a dry run, would change).
	Plan *engine.Plan
	// Changed: the step produced something new for the objects that
	// depend on it (a repository's tags, a policy's latest image).
	Changed bool
	// Suspended: spec.suspend is set; nothing ran.
	Suspended bool
	// NotRun: the pass was stopped before this step started.
	NotRun bool
	// Duration of the step.
	Duration time.Duration
}

// OK reports whether the step succeeded: the object is Ready, or
// suspended. A step waiting for a dependency is not OK.
func (r Result) OK() bool {
	if r.NotRun {
		return false
	}
	if r.Suspended {
		return true
	}
	return r.Outcome.Err == nil && r.Ready != nil && r.Ready.Status == metav1.ConditionTrue
}

// Runner reconciles the objects of a set of manifests with the engine,
// keeping their statuses in the state file.
type Runner struct {
	opts   Options
	set    atomic.Pointer[objectSet] // replaced by a reload, between steps
	writer *recordWriter
}

// objectSet is one loaded set of manifests: the objects with their
// statuses, what stands in for the API server's bookkeeping of them, and
// who waits for whom. A step works on the set current when it starts; Run
// switches to a new one only when no step is running.
type objectSet struct {
	objs  *manifest.Objects // as loaded, for comparing with the next load
	store *store
	meta  map[ObjectRef]*bookkeeping // read-only after newSet
	deps  graph
}

// bookkeeping stands in for what the API server keeps of an object.
type bookkeeping struct {
	generation int64
	specHash   string
	created    time.Time
	source     string
}

// New merges the recorded statuses into the loaded objects, counts
// generations (a changed spec is a new generation), records every object
// in the state file, so `dockhand get` lists them before they run, and
// prunes from it the records and tags of objects that are no longer in
// the manifests.
func New(opts Options) (*Runner, error) {
	if opts.Objects == nil || opts.Engine == nil || opts.State == nil {
		return nil, errors.New("runner needs Objects, an Engine and a State")
	}
	if opts.State.Tags() == nil {
		return nil, errors.New("runner needs a state file opened for writing")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 2 * time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Minute
	}
	if opts.ReloadInterval <= 0 {
		opts.ReloadInterval = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Runner{opts: opts, writer: newRecordWriter(opts.State)}
	set, recs, err := newSet(opts.Objects, opts.State.Get, opts.Now())
	if err != nil {
		return nil, err
	}
	if err := r.persist(set, recs); err != nil {
		return nil, err
	}
	r.set.Store(set)
	return r, nil
}

// newSet builds the set of objs, each with what lookup finds of it (its
// status, generation and creation time, from the state file or from the
// set running before), and the records to write for them.
func newSet(objs *manifest.Objects, lookup func(kind, namespace, name string) (Record, bool, error), now time.Time) (*objectSet, []Record, error) {
	set := &objectSet{objs: objs, store: newStore(objs), meta: map[ObjectRef]*bookkeeping{}}
	refs := set.store.refs()
	recs := make([]Record, 0, len(refs))
	for _, ref := range refs {
		var err error
		key := nsName(ref.Namespace, ref.Name)
		switch ref.Kind {
		case KindRepository:
			o := set.store.repos[key]
			err = adopt(set, lookup, ref, &o.ObjectMeta, o.Spec, &o.Status, now)
		case KindPolicy:
			o := set.store.pols[key]
			err = adopt(set, lookup, ref, &o.ObjectMeta, o.Spec, &o.Status, now)
		case KindAutomation:
			o := set.store.autos[key]
			err = adopt(set, lookup, ref, &o.ObjectMeta, o.Spec, &o.Status, now)
		}
		if err != nil {
			return nil, nil, err
		}
		rec, err := set.record(ref, set.object(ref), now)
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, rec)
	}
	set.deps = set.store.graph()
	return set, recs, nil
}

// persist writes the records of a new set and prunes from the state file
// what it keeps about objects not in the set that came from the same
// manifest paths.
func (r *Runner) persist(set *objectSet, recs []Record) error {
	if err := r.opts.State.Put(recs...); err != nil {
		return err
	}
	// Without the paths, every record is taken to come from these objects'
	// files.
	var paths []string
	if r.opts.Manifests != nil {
		paths = r.opts.Manifests.Paths
	}
	_, err := r.opts.State.Prune(set.store.refs(), paths)
	return err
}

// adopt gives a loaded object its generation, creation time and recorded
// status (status points at the object's).
func adopt[S any](set *objectSet, lookup func(kind, namespace, name string) (Record, bool, error), ref ObjectRef, om *metav1.ObjectMeta, spec any, status *S, now time.Time) error {
	hash, err := specHash(spec)
	if err != nil {
		return fmt.Errorf("hashing the spec of %s: %w", ref, err)
	}
	bk := &bookkeeping{generation: 1, specHash: hash, created: now}
	if src, ok := set.objs.SourceOf(ref.Kind, ref.Namespace, ref.Name); ok {
		bk.source = src.String()
	}
	var empty S
	*status = empty // a status written in the file is not ours to trust
	rec, ok, err := lookup(ref.Kind, ref.Namespace, ref.Name)
	if err != nil {
		return err
	}
	if ok {
		var prev struct {
			Status S `json:"status"`
		}
		if err := json.Unmarshal(rec.Object, &prev); err != nil {
			return fmt.Errorf("decoding the recorded status of %s: %w", ref, err)
		}
		*status = prev.Status
		bk.generation, bk.created = rec.Generation, rec.Created
		if rec.SpecHash != bk.specHash {
			bk.generation++
		}
	}
	om.Generation = bk.generation
	om.CreationTimestamp = metav1.NewTime(bk.created)
	set.meta[ref] = bk
	return nil
}

func specHash(spec any) (string, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// lookup returns the record the set would write for an object now, for
// carrying its status and generation over to the next set.
func (set *objectSet) lookup(kind, namespace, name string) (Record, bool, error) {
	ref := ObjectRef{Kind: kind, Namespace: namespace, Name: name}
	if _, ok := set.meta[ref]; !ok {
		return Record{}, false, nil
	}
	rec, err := set.record(ref, set.object(ref), time.Time{})
	return rec, err == nil, err
}

// object returns a copy of the current object.
func (set *objectSet) object(ref ObjectRef) any {
	key := nsName(ref.Namespace, ref.Name)
	switch ref.Kind {
	case KindRepository:
		return set.store.repository(key)
	case KindPolicy:
		return set.store.policy(key)
	default:
		return set.store.automation(key)
	}
}

func (set *objectSet) record(ref ObjectRef, obj any, now time.Time) (Record, error) {
	bk := set.meta[ref]
	raw, err := json.Marshal(obj)
	if err != nil {
		return Record{}, fmt.Errorf("encoding %s: %w", ref, err)
	}
	return Record{
		Kind:       ref.Kind,
		Namespace:  ref.Namespace,
		Name:       ref.Name,
		Generation: bk.generation,
		SpecHash:   bk.specHash,
		Created:    bk.created,
		Updated:    now,
		Source:     bk.source,
		Object:     raw,
	}, nil
}

// Refs lists every object, repositories first, then policies, then
// automations.
func (r *Runner) Refs() []ObjectRef { return r.set.Load().store.refs() }

// step runs one object's step and records the result. force asks for a
// scan (and a digest lookup) whatever the interval, as a reconcile request
// does; the request is not recorded in the object written to the state.
func (r *Runner) step(ctx context.Context, ref ObjectRef, force string) Result {
	set := r.set.Load()
	r.emit(Event{Type: StepStarted, Ref: ref})
	start := r.opts.Now()
	res := Result{Ref: ref}
	key := nsName(ref.Namespace, ref.Name)
	withRequest := func(om *metav1.ObjectMeta) map[string]string {
		saved := om.Annotations
		if force != "" {
			ann := make(map[string]string, len(saved)+1)
			for k, v := range saved {
				ann[k] = v
			}
			ann[imagev1.ReconcileRequestAnnotation] = force
			om.Annotations = ann
		}
		return saved
	}
	switch ref.Kind {
	case KindRepository:
		o := set.store.repository(key)
		before := o.Status.DeepCopy()
		saved := withRequest(&o.ObjectMeta)
		res.Suspended = o.Spec.Suspend
		res.Outcome = r.opts.Engine.ReconcileRepository(ctx, set.store, o)
		o.Annotations = saved
		set.store.setRepositoryStatus(key, o.Status)
		res.Object, res.Ready = o, readyOf(o.Status.Conditions)
		res.Changed = revision(before) != revision(&o.Status) || readyStatus(before.Conditions) != readyStatus(o.Status.Conditions)
	case KindPolicy:
		o := set.store.policy(key)
		before := o.Status.DeepCopy()
		saved := withRequest(&o.ObjectMeta)
		res.Suspended = o.Spec.Suspend
		res.Outcome = r.opts.Engine.ReconcilePolicy(ctx, set.store, o)
		o.Annotations = saved
		set.store.setPolicyStatus(key, o.Status)
		res.Object, res.Ready = o, readyOf(o.Status.Conditions)
		res.Changed = !sameRef(before.LatestRef, o.Status.LatestRef)
	case KindAutomation:
		o := set.store.automation(key)
		res.Suspended = o.Spec.Suspend && !r.opts.DryRun
		if r.opts.DryRun {
			res.Plan, res.Outcome = r.opts.Engine.PlanAutomation(ctx, set.store, o)
		} else {
			res.Outcome = r.opts.Engine.ReconcileAutomation(ctx, set.store, o)
		}
		set.store.setAutomationStatus(key, o.Status)
		res.Object, res.Ready = o, readyOf(o.Status.Conditions)
	}
	now := r.opts.Now()
	res.Duration = now.Sub(start)
	if rec, err := set.record(ref, res.Object, now); err != nil {
		res.Outcome.Err = errors.Join(res.Outcome.Err, err)
	} else {
		r.writer.put(ref, rec) // errors come out of the pass's flush
	}
	r.emit(Event{Type: StepFinished, Ref: ref, Result: &res})
	return res
}

func (r *Runner) emit(ev Event) {
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(ev)
	}
}

func readyOf(conds []metav1.Condition) *metav1.Condition {
	c := meta.FindStatusCondition(conds, imagev1.ReadyCondition)
	if c == nil {
		return nil
	}
	cp := *c
	return &cp
}

func readyStatus(conds []metav1.Condition) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(conds, imagev1.ReadyCondition); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

func revision(st *imagev1.ImageRepositoryStatus) string {
	if st.LastScanResult == nil {
		return ""
	}
	return st.LastScanResult.Revision
}

func sameRef(a, b *imagev1.ImageRef) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
