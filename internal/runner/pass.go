package runner

import (
	"context"
	"sync"
	"time"
)

// Summary is what a pass did.
type Summary struct {
	// Results holds one entry per object: repositories, then policies,
	// then automations, each sorted by namespace and name.
	Results []Result
	// Stopped: the pass was stopped before every step ran (see
	// Result.NotRun).
	Stopped bool
	// Err is a failure to write the state file; the steps' own failures
	// are in their results.
	Err error
}

// Failed returns the results that are not OK.
func (s *Summary) Failed() []Result {
	var out []Result
	for _, r := range s.Results {
		if !r.OK() && !r.NotRun {
			out = append(out, r)
		}
	}
	return out
}

// Once runs one full pass over every object whatever its interval or last
// run: every repository is scanned (as a reconcile request would ask),
// then every policy evaluated, then every automation run, each step as soon
// as the steps it depends on have ended, up to Options.Concurrency at a
// time. Closing stop lets the steps under way finish and starts no more;
// cancelling ctx cancels them too.
func (r *Runner) Once(ctx context.Context, stop <-chan struct{}) *Summary {
	force := r.opts.Now().UTC().Format(time.RFC3339Nano)
	return r.pass(ctx, stop, force)
}

// pass runs every step in dependency order. force, when not empty, is the
// reconcile request given to repositories and policies.
func (r *Runner) pass(ctx context.Context, stop <-chan struct{}, force string) *Summary {
	set := r.set.Load()
	refs := set.store.refs()
	done := make(map[ObjectRef]chan struct{}, len(refs))
	for _, ref := range refs {
		done[ref] = make(chan struct{})
	}
	sum := &Summary{Results: make([]Result, len(refs))}
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Go(func() {
			defer close(done[ref])
			sum.Results[i] = r.passStep(ctx, stop, set, ref, done, sem, force)
		})
	}
	wg.Wait()
	for _, res := range sum.Results {
		if res.NotRun {
			sum.Stopped = true
		}
	}
	sum.Err = r.writer.flush()
	r.emit(Event{Type: PassFinished, Summary: sum})
	return sum
}

func (r *Runner) passStep(ctx context.Context, stop <-chan struct{}, set *objectSet, ref ObjectRef, done map[ObjectRef]chan struct{}, sem chan struct{}, force string) Result {
	notRun := Result{Ref: ref, Object: set.object(ref), NotRun: true}
	for _, dep := range set.deps.deps[ref] {
		select {
		case <-done[dep]:
		case <-stop:
			return notRun
		case <-ctx.Done():
			return notRun
		}
	}
	select {
	case sem <- struct{}{}:
	case <-stop:
		return notRun
	case <-ctx.Done():
		return notRun
	}
	defer func() { <-sem }()
	select {
	case <-stop:
		return notRun
	case <-ctx.Done():
		return notRun
	default:
	}
	if ref.Kind == KindAutomation {
		force = "" // an automation with nothing new has nothing to do
	}
	return r.step(ctx, ref, force)
}
