package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	// Objects are what manifest.Load found (already validated).
	Objects *manifest.Objects
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
)

// Event is one thing the runner did, for progress and logs.
type Event struct {
	Type    EventType
	Ref     ObjectRef
	Result  *Result  // StepFinished only
	Summary *Summary // PassFinished only
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
	store  *store
	meta   map[ObjectRef]*bookkeeping
	deps   graph
	writer *recordWriter
}

// bookkeeping stands in for what the API server keeps of an object.
type bookkeeping struct {
	generation int64
	specHash   string
	created    time.Time
	source     string
}

// New merges the recorded statuses into the loaded objects, counts
// generations (a changed spec is a new generation) and records every
// object in the state file, so `dockhand get` lists them before they run.
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Runner{opts: opts, store: newStore(opts.Objects), meta: map[ObjectRef]*bookkeeping{}, writer: newRecordWriter(opts.State)}
	now := opts.Now()
	var recs []Record
	for _, ref := range r.store.refs() {
		var err error
		key := nsName(ref.Namespace, ref.Name)
		switch ref.Kind {
		case KindRepository:
			o := r.store.repos[key]
			err = adopt(r, ref, &o.ObjectMeta, o.Spec, &o.Status, now)
		case KindPolicy:
			o := r.store.pols[key]
			err = adopt(r, ref, &o.ObjectMeta, o.Spec, &o.Status, now)
		case KindAutomation:
			o := r.store.autos[key]
			err = adopt(r, ref, &o.ObjectMeta, o.Spec, &o.Status, now)
		}
		if err != nil {
			return nil, err
		}
		rec, err := r.record(ref, r.object(ref), now)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	if err := opts.State.Put(recs...); err != nil {
		return nil, err
	}
	r.deps = r.store.graph()
	return r, nil
}

// adopt gives a loaded object its generation, creation time and recorded
// status (status points at the object's).
func adopt[S any](r *Runner, ref ObjectRef, om *metav1.ObjectMeta, spec any, status *S, now time.Time) error {
	raw, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("hashing the spec of %s: %w", ref, err)
	}
	sum := sha256.Sum256(raw)
	bk := &bookkeeping{generation: 1, specHash: hex.EncodeToString(sum[:]), created: now}
	if src, ok := r.opts.Objects.SourceOf(ref.Kind, ref.Namespace, ref.Name); ok {
		bk.source = src.String()
	}
	var empty S
	*status = empty // a status written in the file is not ours to trust
	rec, ok, err := r.opts.State.Get(ref.Kind, ref.Namespace, ref.Name)
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
	r.meta[ref] = bk
	return nil
}

// object returns a copy of the current object.
func (r *Runner) object(ref ObjectRef) any {
	key := nsName(ref.Namespace, ref.Name)
	switch ref.Kind {
	case KindRepository:
		return r.store.repository(key)
	case KindPolicy:
		return r.store.policy(key)
	default:
		return r.store.automation(key)
	}
}

func (r *Runner) record(ref ObjectRef, obj any, now time.Time) (Record, error) {
	bk := r.meta[ref]
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
func (r *Runner) Refs() []ObjectRef { return r.store.refs() }

// step runs one object's step and records the result. force asks for a
// scan (and a digest lookup) whatever the interval, as a reconcile request
// does; the request is not recorded in the object written to the state.
func (r *Runner) step(ctx context.Context, ref ObjectRef, force string) Result {
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
		o := r.store.repository(key)
		before := o.Status.DeepCopy()
		saved := withRequest(&o.ObjectMeta)
		res.Suspended = o.Spec.Suspend
		res.Outcome = r.opts.Engine.ReconcileRepository(ctx, r.store, o)
		o.Annotations = saved
		r.store.setRepositoryStatus(key, o.Status)
		res.Object, res.Ready = o, readyOf(o.Status.Conditions)
		res.Changed = revision(before) != revision(&o.Status) || readyStatus(before.Conditions) != readyStatus(o.Status.Conditions)
	case KindPolicy:
		o := r.store.policy(key)
		before := o.Status.DeepCopy()
		saved := withRequest(&o.ObjectMeta)
		res.Suspended = o.Spec.Suspend
		res.Outcome = r.opts.Engine.ReconcilePolicy(ctx, r.store, o)
		o.Annotations = saved
		r.store.setPolicyStatus(key, o.Status)
		res.Object, res.Ready = o, readyOf(o.Status.Conditions)
		res.Changed = !sameRef(before.LatestRef, o.Status.LatestRef)
	case KindAutomation:
		o := r.store.automation(key)
		res.Suspended = o.Spec.Suspend && !r.opts.DryRun
		if r.opts.DryRun {
			res.Plan, res.Outcome = r.opts.Engine.PlanAutomation(ctx, r.store, o)
		} else {
			res.Outcome = r.opts.Engine.ReconcileAutomation(ctx, r.store, o)
		}
		r.store.setAutomationStatus(key, o.Status)
		res.Object, res.Ready = o, readyOf(o.Status.Conditions)
	}
	now := r.opts.Now()
	res.Duration = now.Sub(start)
	if rec, err := r.record(ref, res.Object, now); err != nil {
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
