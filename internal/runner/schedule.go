package runner

import (
	"context"
	"sync"
	"time"
)

// Run keeps the objects reconciled until stop is closed: a first pass in
// dependency order (scanning only what is due), then each object again on
// its own schedule: a repository every spec.interval, a policy when its
// repository's tags change (and every spec.interval with digest
// reflection Always), an automation every spec.interval and when the
// latest image of one of its policies changes. A failed step is retried
// with exponential backoff (Options.RetryBase to RetryMax); an invalid
// spec is not retried. Closing stop lets the steps under way finish;
// cancelling ctx cancels them too. Run returns once nothing is running.
//
// With Options.Manifests, Run also looks at the files every
// ReloadInterval after the first pass and, when they changed and then
// stayed the same for one interval, loads them again. New manifests that are invalid are reported in a Reloaded event
// and change nothing. Valid ones take over between steps: no more steps
// start, those under way finish, then objects that stay keep their
// statuses (a changed spec is a new generation), the state file forgets
// the removed ones, added and changed objects run at once and removed ones
// leave the schedule; a Reloaded event says what changed.
//
// The Summary is the first pass's; its Err also reports a failure to
// write the state file met later.
func (r *Runner) Run(ctx context.Context, stop <-chan struct{}) *Summary {
	first := r.pass(ctx, stop, "")
	s := &scheduler{r: r, next: map[ObjectRef]time.Time{}, running: map[ObjectRef]bool{},
		failures: map[ObjectRef]int{}, waiting: map[ObjectRef]map[ObjectRef]bool{},
		wake: make(chan struct{}, 1), hold: make(chan struct{})}
	for _, res := range first.Results {
		if !res.NotRun {
			s.finished(res, false)
		}
	}
	if first.Stopped {
		return first
	}
	s.loop(ctx, stop)
	if err := r.writer.flush(); err != nil && first.Err == nil {
		first.Err = err
	}
	if first.Err == nil {
		first.Err = s.writeErr
	}
	return first
}

// scheduler runs steps when they are due, at most one at a time per object.
type scheduler struct {
	r  *Runner
	wg sync.WaitGroup

	mu       sync.Mutex
	next     map[ObjectRef]time.Time // when each object runs next
	running  map[ObjectRef]bool
	failures map[ObjectRef]int // consecutive failures, for backoff
	// waiting holds objects a reload runs once the steps it also runs and
	// they depend on have ended, as a pass would order them.
	waiting map[ObjectRef]map[ObjectRef]bool
	wake    chan struct{}

	// Owned by the loop's goroutine.
	hold     chan struct{} // closed to keep started steps from taking a slot (a reload is waiting)
	writeErr error         // the first failure to write the state file met by a reload
}

func (s *scheduler) loop(ctx context.Context, stop <-chan struct{}) {
	sem := make(chan struct{}, s.r.opts.Concurrency)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	poll := s.r.opts.ReloadPoll
	if s.r.opts.Manifests == nil || s.r.opts.NoReload {
		poll = nil
	} else if poll == nil {
		ticker := time.NewTicker(s.r.opts.ReloadInterval)
		defer ticker.Stop()
		poll = ticker.C
	}
	for {
		due, wait := s.due(s.r.opts.Now())
		hold := s.hold
		for _, ref := range due {
			s.wg.Go(func() { s.run(ctx, stop, hold, ref, sem) })
		}
		timer.Reset(wait)
		select {
		case <-stop:
			s.wg.Wait()
			return
		case <-ctx.Done():
			s.wg.Wait()
			return
		case <-s.wake:
		case <-timer.C:
		case <-poll:
			s.reload(ctx, stop)
		}
	}
}

// due takes the objects whose time has come and are not running, and
// returns how long until the next one.
func (s *scheduler) due(now time.Time) ([]ObjectRef, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []ObjectRef
	wait := time.Hour
	for ref, at := range s.next {
		if s.running[ref] {
			continue
		}
		if !at.After(now) {
			due = append(due, ref)
			delete(s.next, ref)
			s.running[ref] = true
			continue
		}
		wait = min(wait, at.Sub(now))
	}
	return due, wait
}

// run runs one due step when a slot is free. A step still waiting for a
// slot when stop or ctx ends is dropped, and one still waiting when hold
// closes goes back in the schedule, due now.
func (s *scheduler) run(ctx context.Context, stop <-chan struct{}, hold <-chan struct{}, ref ObjectRef, sem chan struct{}) {
	select {
	case sem <- struct{}{}:
	case <-stop:
		s.abandon(ref)
		return
	case <-ctx.Done():
		s.abandon(ref)
		return
	case <-hold:
		s.putBack(ref)
		return
	}
	defer func() { <-sem }()
	select {
	case <-stop:
		s.abandon(ref)
		return
	case <-hold:
		s.putBack(ref)
		return
	default:
	}
	s.finished(s.r.step(ctx, ref, ""), true)
}

func (s *scheduler) abandon(ref ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, ref)
}

// putBack returns a step that did not start to the schedule, due now.
func (s *scheduler) putBack(ref ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, ref)
	s.schedule(ref, s.r.opts.Now())
}

// finished schedules the object's next run from the step's outcome and,
// when the step changed something, runs the objects that depend on it now.
func (s *scheduler) finished(res Result, triggerDependents bool) {
	now := s.r.opts.Now()
	s.mu.Lock()
	ref := res.Ref
	delete(s.running, ref)
	out := res.Outcome
	var at time.Time
	switch {
	case res.Suspended:
		delete(s.failures, ref)
	case out.Err != nil && !out.Terminal:
		n := s.failures[ref]
		s.failures[ref] = n + 1
		at = now.Add(s.backoff(n, out.RequeueAfter))
	case out.Err != nil:
		delete(s.failures, ref) // an invalid spec: wait for it to change
	default:
		delete(s.failures, ref)
		if out.RequeueAfter > 0 {
			at = now.Add(out.RequeueAfter)
		}
	}
	if !at.IsZero() {
		s.schedule(ref, at)
	}
	for dep, on := range s.waiting {
		if on[ref] {
			delete(on, ref)
			if len(on) == 0 {
				delete(s.waiting, dep)
				s.schedule(dep, now)
			}
		}
	}
	if triggerDependents && res.Changed {
		for _, dep := range s.r.set.Load().deps.dependents[ref] {
			if _, ok := s.waiting[dep]; !ok { // it runs once all its dependencies ran
				s.schedule(dep, now)
			}
		}
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedule keeps the earlier of the object's next time and at. Callers
// hold s.mu.
func (s *scheduler) schedule(ref ObjectRef, at time.Time) {
	if cur, ok := s.next[ref]; ok && cur.Before(at) {
		return
	}
	s.next[ref] = at
}

// backoff is the delay before retry n+1: RetryBase doubled n times, at
// most RetryMax, and never less than what the failure asked for (a
// registry's Retry-After).
func (s *scheduler) backoff(n int, asked time.Duration) time.Duration {
	d := s.r.opts.RetryBase
	for i := 0; i < n && d < s.r.opts.RetryMax; i++ {
		d *= 2
	}
	return max(min(d, s.r.opts.RetryMax), asked)
}
