package runner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/manifest"
)

func removeFile(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }

// eventLog hands a test the events of a Runner in order.
type eventLog struct{ ch chan Event }

func newEventLog() *eventLog { return &eventLog{ch: make(chan Event, 4096)} }

func (l *eventLog) on(ev Event) { l.ch <- ev }

// waitFor takes events until one matches and returns it with those taken
// before it. A minute without it fails the test.
func (l *eventLog) waitFor(t *testing.T, what string, match func(Event) bool) (Event, []Event) {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	var skipped []Event
	for {
		select {
		case ev := <-l.ch:
			if match(ev) {
				return ev, skipped
			}
			skipped = append(skipped, ev)
		case <-deadline.C:
			t.Fatalf("no %s within a minute", what)
		}
	}
}

// rest returns the events not taken yet (call it after Run returned).
func (l *eventLog) rest() []Event {
	var out []Event
	for {
		select {
		case ev := <-l.ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// settleAndPoll has Run look at the manifests twice: once to see them
// changed, once more to find them settled.
func settleAndPoll(poll chan<- time.Time) {
	poll <- time.Now()
	poll <- time.Now()
}

func isType(typ EventType) func(Event) bool {
	return func(ev Event) bool { return ev.Type == typ }
}

func finishedStep(ref ObjectRef) func(Event) bool {
	return func(ev Event) bool { return ev.Type == StepFinished && ev.Ref == ref }
}

var (
	repoApp     = ObjectRef{KindRepository, "default", "app"}
	policyApp   = ObjectRef{KindPolicy, "default", "app"}
	policyEdge  = ObjectRef{KindPolicy, "default", "edge"}
	automationF = ObjectRef{KindAutomation, "default", "fleet"}
)

// startRun runs r.Run until the test calls the returned stop, which waits
// for Run to return.
func startRun(t *testing.T, r *Runner) (stop func() *Summary) {
	t.Helper()
	stopCh := make(chan struct{})
	done := make(chan *Summary, 1)
	go func() { done <- r.Run(t.Context(), stopCh) }()
	stopped := false
	stop = func() *Summary {
		t.Helper()
		if !stopped {
			close(stopCh)
			stopped = true
		}
		select {
		case sum := <-done:
			done <- sum
			return sum
		case <-time.After(time.Minute):
			t.Fatal("Run did not return a minute after stop")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestRunReloadsChangedManifests(t *testing.T) {
	h := newHarness(t)
	h.writeManifests(">=1.0.0", "1h") // nothing runs again by itself
	events := newEventLog()
	poll := make(chan time.Time)
	r, closeState := h.runner(Options{OnEvent: events.on, ReloadPoll: poll})
	stop := startRun(t, r)
	pass, _ := events.waitFor(t, "first pass", isType(PassFinished))
	wantAllOK(t, pass.Summary)
	// The pass has written its records.
	recBefore, ok, err := h.state.Get(KindRepository, "default", "app")
	if err != nil || !ok {
		t.Fatalf("state.Get(repository) = %v, %v", ok, err)
	}
	var repoBefore imagev1.ImageRepository
	if err := recBefore.Decode(&repoBefore); err != nil {
		t.Fatal(err)
	}

	// The repository stays, the policy gets another range, a policy is
	// added and the automation removed.
	h.writeFile("objects.yaml", h.repository("app", "1h")+"---\n"+h.policy("app", "<1.0.1"))
	h.writeFile("edge.yaml", h.policy("edge", ">=1.0.0"))
	settleAndPoll(poll)
	ev, _ := events.waitFor(t, "reload", isType(Reloaded))
	want := &Reload{Added: []ObjectRef{policyEdge}, Changed: []ObjectRef{policyApp}, Removed: []ObjectRef{automationF}}
	if diff := cmp.Diff(want, ev.Reload); diff != "" {
		t.Fatalf("Reload (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ObjectRef{repoApp, policyApp, policyEdge}, r.Refs()); diff != "" {
		t.Errorf("Refs() after the reload (-want +got):\n%s", diff)
	}

	// The added and the changed policy run at once, without the
	// repository being scanned again.
	pending := map[ObjectRef]bool{policyApp: true, policyEdge: true}
	var after []Event
	for len(pending) > 0 {
		ev, skipped := events.waitFor(t, "the steps of both policies", func(ev Event) bool {
			return ev.Type == StepFinished && pending[ev.Ref]
		})
		delete(pending, ev.Ref)
		after = append(append(after, skipped...), ev)
	}
	sum := stop()
	wantAllOK(t, sum)
	after = append(after, events.rest()...)
	for _, ev := range after {
		if ev.Type == StepStarted && (ev.Ref == repoApp || ev.Ref == automationF) {
			t.Errorf("%s ran after the reload", ev.Ref)
		}
	}
	closeState()

	st, err := OpenState(h.statePath, StateOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.Records()
	if err != nil {
		t.Fatal(err)
	}
	got := map[ObjectRef]Record{}
	for _, rec := range recs {
		got[ObjectRef{rec.Kind, rec.Namespace, rec.Name}] = rec
	}
	if _, ok := got[automationF]; ok || len(got) != 3 {
		t.Errorf("records after the reload: %d, automation kept %v; want 3, without it", len(got), ok)
	}

	var repo imagev1.ImageRepository
	if err := got[repoApp].Decode(&repo); err != nil {
		t.Fatal(err)
	}
	if repo.Generation != 1 || !repo.CreationTimestamp.Equal(&repoBefore.CreationTimestamp) {
		t.Errorf("repository after the reload: generation %d, created %v; want 1 and %v", repo.Generation, repo.CreationTimestamp, repoBefore.CreationTimestamp)
	}
	if diff := cmp.Diff(repoBefore.Status, repo.Status); diff != "" {
		t.Errorf("repository status after the reload (-before +after):\n%s", diff)
	}

	var app, edge imagev1.ImagePolicy
	if err := got[policyApp].Decode(&app); err != nil {
		t.Fatal(err)
	}
	if err := got[policyEdge].Decode(&edge); err != nil {
		t.Fatal(err)
	}
	if app.Generation != 2 || app.Status.ObservedGeneration != 2 || app.Status.LatestRef == nil || app.Status.LatestRef.Tag != "1.0.0" {
		t.Errorf("changed policy: generation %d, observed %d, latest %v; want 2, 2, 1.0.0", app.Generation, app.Status.ObservedGeneration, app.Status.LatestRef)
	}
	if prev := app.Status.ObservedPreviousRef; prev == nil || prev.Tag != "1.0.1" {
		t.Errorf("changed policy: observedPreviousRef %v, want 1.0.1 (its status carried over)", prev)
	}
	if edge.Generation != 1 || edge.Status.LatestRef == nil || edge.Status.LatestRef.Tag != "1.0.1" {
		t.Errorf("added policy: generation %d, latest %v; want 1, 1.0.1", edge.Generation, edge.Status.LatestRef)
	}
}

// What a reload runs, it runs in dependency order: the automation, whose
// policies changed, runs once, after both.
func TestReloadRunsInDependencyOrder(t *testing.T) {
	h := newHarness(t)
	h.writeManifests(">=1.0.0", "1h")
	events := newEventLog()
	poll := make(chan time.Time)
	r, _ := h.runner(Options{OnEvent: events.on, ReloadPoll: poll})
	stop := startRun(t, r)
	events.waitFor(t, "first pass", isType(PassFinished))

	h.writeManifests("<1.0.1", "1h")
	h.writeFile("edge.yaml", h.policy("edge", ">=1.0.0"))
	settleAndPoll(poll)
	ev, _ := events.waitFor(t, "reload", isType(Reloaded))
	want := &Reload{Added: []ObjectRef{policyEdge}, Changed: []ObjectRef{policyApp}}
	if diff := cmp.Diff(want, ev.Reload); diff != "" {
		t.Fatalf("Reload (-want +got):\n%s", diff)
	}
	ev, before := events.waitFor(t, "the automation's step", finishedStep(automationF))
	if !ev.Result.OK() || !strings.Contains(h.deployed(), ":1.0.0 #") {
		t.Errorf("automation after the reload: OK %v, apps/app.yaml:\n%s", ev.Result.OK(), h.deployed())
	}
	stop()
	var order []string
	for _, ev := range append(before, events.rest()...) {
		if ev.Type == StepStarted && ev.Ref == automationF {
			order = append(order, "automation started")
		}
		if ev.Type == StepFinished && ev.Ref.Kind == KindPolicy {
			order = append(order, ev.Ref.Name+" finished")
		}
	}
	if len(order) != 3 || order[2] != "automation started" {
		t.Errorf("steps after the reload: %v; want both policies to finish, then the automation to start, once", order)
	}
}

func TestRunKeepsTheObjectsWhenNewManifestsAreInvalid(t *testing.T) {
	h := newHarness(t)
	h.writeManifests(">=1.0.0", "1h")
	events := newEventLog()
	poll := make(chan time.Time)
	r, _ := h.runner(Options{OnEvent: events.on, ReloadPoll: poll})
	startRun(t, r)
	events.waitFor(t, "first pass", isType(PassFinished))
	refs := r.Refs()
	recsBefore, err := h.state.Records()
	if err != nil {
		t.Fatal(err)
	}

	h.writeFile("bad.yaml", `apiVersion: image.dockhand.dev/v1
kind: ImagePolicy
metadata:
  name: bad
spec:
  imageRepositoryRef:
    name: app
  policy: {}
`)
	settleAndPoll(poll)
	ev, _ := events.waitFor(t, "reload", isType(Reloaded))
	var invalid *ManifestError
	if !errors.As(ev.Reload.Err, &invalid) || len(invalid.Problems) != 1 {
		t.Fatalf("Reload.Err = %v, want a ManifestError with one problem", ev.Reload.Err)
	}
	p := invalid.Problems[0]
	if p.File != filepath.Join(h.manifests, "bad.yaml") || p.Line == 0 || p.Object != "ImagePolicy default/bad" {
		t.Errorf("problem at %s:%d in %q, want bad.yaml, a line and ImagePolicy default/bad", p.File, p.Line, p.Object)
	}
	if msg := ev.Reload.Err.Error(); !strings.Contains(msg, "bad.yaml:") {
		t.Errorf("Reload.Err = %q, want it to locate the problem", msg)
	}
	if len(ev.Reload.Added)+len(ev.Reload.Changed)+len(ev.Reload.Removed) != 0 {
		t.Errorf("a failed reload lists changes: %+v", ev.Reload)
	}
	if diff := cmp.Diff(refs, r.Refs()); diff != "" {
		t.Errorf("Refs() after a failed reload (-want +got):\n%s", diff)
	}
	recs, err := h.state.Records()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(recsBefore) {
		t.Errorf("%d records after a failed reload, want %d", len(recs), len(recsBefore))
	}

	// The next change is loaded, against the objects still running.
	if err := removeFile(h.manifests, "bad.yaml"); err != nil {
		t.Fatal(err)
	}
	h.writeManifests("<1.0.1", "1h")
	settleAndPoll(poll)
	ev, _ = events.waitFor(t, "reload", isType(Reloaded))
	if ev.Reload.Err != nil {
		t.Fatalf("reload after the fix: %v", ev.Reload.Err)
	}
	if diff := cmp.Diff(&Reload{Changed: []ObjectRef{policyApp}}, ev.Reload); diff != "" {
		t.Errorf("Reload after the fix (-want +got):\n%s", diff)
	}
	events.waitFor(t, "the changed policy's step", finishedStep(policyApp))
}

// A reload lets the steps under way finish before the new objects take
// over: the step held here ends before the reload is reported.
func TestReloadWaitsForTheStepsUnderWay(t *testing.T) {
	h := newHarness(t)
	h.writeManifests(">=1.0.0", "1h")
	events := newEventLog()
	var holdRepo atomic.Bool
	started, release := make(chan struct{}), make(chan struct{})
	onEvent := func(ev Event) {
		if ev.Type == StepStarted && ev.Ref == repoApp && holdRepo.CompareAndSwap(true, false) {
			close(started)
			<-release
		}
		events.on(ev)
	}
	poll := make(chan time.Time)
	r, _ := h.runner(Options{OnEvent: onEvent, ReloadPoll: poll})
	startRun(t, r)
	events.waitFor(t, "first pass", isType(PassFinished))

	// A new interval makes the repository run again, and hold there.
	holdRepo.Store(true)
	h.writeFile("objects.yaml", h.repository("app", "2h")+"---\n"+h.policy("app", ">=1.0.0")+"---\n"+h.automation("1h"))
	settleAndPoll(poll)
	ev, _ := events.waitFor(t, "reload", isType(Reloaded))
	if diff := cmp.Diff(&Reload{Changed: []ObjectRef{repoApp}}, ev.Reload); diff != "" {
		t.Fatalf("first Reload (-want +got):\n%s", diff)
	}
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("the changed repository did not run within a minute of the reload")
	}

	h.writeFile("objects.yaml", h.repository("app", "2h")+"---\n"+h.policy("app", "<1.0.1")+"---\n"+h.automation("1h"))
	settleAndPoll(poll)
	close(release)
	ev, before := events.waitFor(t, "reload", isType(Reloaded))
	if diff := cmp.Diff(&Reload{Changed: []ObjectRef{policyApp}}, ev.Reload); diff != "" {
		t.Errorf("second Reload (-want +got):\n%s", diff)
	}
	finished := false
	for _, ev := range before {
		finished = finished || (ev.Type == StepFinished && ev.Ref == repoApp)
	}
	if !finished {
		t.Error("the reload was reported before the step under way finished")
	}
	events.waitFor(t, "the changed policy's step", finishedStep(policyApp))
}

func TestManifestsChanged(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const repo = `apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata:
  name: app
spec:
  image: example.com/team/app
  interval: 1m
`
	write("repo.yaml", repo)
	m := &Manifests{Paths: []string{dir}}
	// changed calls Changed as Run does, twice at an interval: the first
	// call sees the files move, the second finds them settled.
	changed := func(what string, want bool) {
		t.Helper()
		if m.Changed() {
			t.Errorf("Changed() right after %s = true, want false until the files settle", what)
		}
		if got := m.Changed(); got != want {
			t.Errorf("Changed() after %s = %v, want %v", what, got, want)
		}
	}
	changed("nothing was loaded", true)
	if _, err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Twice: Changed keeps state between calls (a change must settle).
	first, second := m.Changed(), m.Changed()
	if first || second {
		t.Error("Changed() after Load = true")
	}

	// A new modification time with the same contents is no change.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "repo.yaml"), later, later); err != nil {
		t.Fatal(err)
	}
	changed("a touch", false)
	// A file that is not a manifest is no change either.
	write("notes.txt", "hello")
	changed("writing notes.txt", false)

	// Files that move between two calls have not settled.
	write("policy.yaml", "apiVersion: image.dockhand.dev/v1\nkind: ImagePolicy\nmetadata:\n  name: app\n")
	if m.Changed() {
		t.Error("Changed() right after adding a manifest = true")
	}
	write("policy.yaml", "apiVersion: image.dockhand.dev/v1\nkind: ImagePolicy\nmetadata:\n  name: app\nspec: {}\n")
	if m.Changed() {
		t.Error("Changed() while a manifest is still being written = true")
	}
	if !m.Changed() {
		t.Fatal("Changed() once the new manifest settled = false")
	}
	_, err := m.Load(t.Context())
	var invalid *ManifestError
	if !errors.As(err, &invalid) {
		t.Fatalf("Load with an invalid policy = %v, want a ManifestError", err)
	}
	changed("a failed Load of the same files", false)

	if err := removeFile(dir, "policy.yaml"); err != nil {
		t.Fatal(err)
	}
	changed("removing a manifest", true)
	write("repo.yaml", strings.Replace(repo, "1m", "2m", 1))
	changed("editing a manifest", true)
	if err := removeFile(dir, "repo.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Load(t.Context()); !errors.Is(err, ErrNoObjects) {
		t.Errorf("Load of a directory without objects = %v, want ErrNoObjects", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	changed("the directory went away", true)
	if _, err := m.Load(t.Context()); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Load of a missing directory = %v, want an error naming it", err)
	}
	changed("nothing new, the directory still missing", false)
}

func TestDiffObjects(t *testing.T) {
	repo := func(name, image string) *imagev1.ImageRepository {
		return &imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name}, Spec: imagev1.ImageRepositorySpec{Image: image}}
	}
	policy := func(name string, labels map[string]string) *imagev1.ImagePolicy {
		return &imagev1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, Labels: labels},
			Spec: imagev1.ImagePolicySpec{ImageRepositoryRef: imagev1.NamespacedObjectReference{Name: "web"}}}
	}
	secret := func(value string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "creds"}, Data: map[string][]byte{"token": []byte(value)}}
	}
	base := func() *manifest.Objects {
		return &manifest.Objects{
			Repositories: []*imagev1.ImageRepository{repo("web", "example.com/web"), repo("api", "example.com/api")},
			Policies:     []*imagev1.ImagePolicy{policy("web", map[string]string{"team": "a"})},
			Secrets:      []*corev1.Secret{secret("one")},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(o *manifest.Objects)
		want   objectDiff
	}{
		{"same", func(*manifest.Objects) {}, objectDiff{}},
		{"reordered", func(o *manifest.Objects) {
			o.Repositories[0], o.Repositories[1] = o.Repositories[1], o.Repositories[0]
		}, objectDiff{}},
		{"spec", func(o *manifest.Objects) { o.Repositories[1].Spec.Image = "example.com/api2" },
			objectDiff{changed: []ObjectRef{{KindRepository, "apps", "api"}}}},
		{"labels", func(o *manifest.Objects) { o.Policies[0].Labels["team"] = "b" },
			objectDiff{changed: []ObjectRef{{KindPolicy, "apps", "web"}}}},
		{"annotations", func(o *manifest.Objects) {
			o.Policies[0].Annotations = map[string]string{imagev1.ReconcileRequestAnnotation: "now"}
		}, objectDiff{changed: []ObjectRef{{KindPolicy, "apps", "web"}}}},
		{"added and removed", func(o *manifest.Objects) {
			o.Repositories = o.Repositories[:1]
			o.Policies = append(o.Policies, policy("api", nil))
		}, objectDiff{added: []ObjectRef{{KindPolicy, "apps", "api"}}, removed: []ObjectRef{{KindRepository, "apps", "api"}}}},
		{"secret", func(o *manifest.Objects) { o.Secrets[0] = secret("two") }, objectDiff{support: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after := base()
			tc.change(after)
			got := diffObjects(base(), after)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(objectDiff{})); diff != "" {
				t.Errorf("diffObjects (-want +got):\n%s", diff)
			}
			if got.none() != (tc.name == "same" || tc.name == "reordered") {
				t.Errorf("diffObjects(...).none() = %v", got.none())
			}
		})
	}
}

// switched drops removed objects from the schedule, runs added and changed
// ones at once, and those whose dependencies changed after those.
func TestSwitchedSchedule(t *testing.T) {
	repo := &imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web"}, Spec: imagev1.ImageRepositorySpec{Image: "example.com/web"}}
	policy := func(name, rng string) *imagev1.ImagePolicy {
		return &imagev1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name}, Spec: imagev1.ImagePolicySpec{
			ImageRepositoryRef: imagev1.NamespacedObjectReference{Name: "web"},
			Policy:             imagev1.ImagePolicyChoice{SemVer: &imagev1.SemVerPolicy{Range: rng}},
		}}
	}
	auto := &imagev1.ImageUpdateAutomation{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "fleet"}}
	before := &manifest.Objects{
		Repositories: []*imagev1.ImageRepository{repo},
		Policies:     []*imagev1.ImagePolicy{policy("stable", "1.x"), policy("old", ">=0")},
		Automations:  []*imagev1.ImageUpdateAutomation{auto},
	}
	after := &manifest.Objects{
		Repositories: []*imagev1.ImageRepository{repo},
		Policies:     []*imagev1.ImagePolicy{policy("stable", "2.x"), policy("new", ">=0")},
		Automations:  []*imagev1.ImageUpdateAutomation{auto},
	}
	none := func(string, string, string) (Record, bool, error) { return Record{}, false, nil }
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	old, _, err := newSet(before, none, now)
	if err != nil {
		t.Fatal(err)
	}
	cur, _, err := newSet(after, none, now)
	if err != nil {
		t.Fatal(err)
	}
	var (
		repoRef = ObjectRef{KindRepository, "apps", "web"}
		stable  = ObjectRef{KindPolicy, "apps", "stable"}
		oldPol  = ObjectRef{KindPolicy, "apps", "old"}
		newPol  = ObjectRef{KindPolicy, "apps", "new"}
		fleet   = ObjectRef{KindAutomation, "apps", "fleet"}
	)
	later := now.Add(time.Hour)
	r := &Runner{opts: Options{Now: func() time.Time { return now }}}
	r.set.Store(cur)
	s := &scheduler{
		r:        r,
		next:     map[ObjectRef]time.Time{repoRef: later, fleet: later, oldPol: later},
		running:  map[ObjectRef]bool{},
		failures: map[ObjectRef]int{stable: 3, oldPol: 1, repoRef: 2},
		waiting:  map[ObjectRef]map[ObjectRef]bool{},
		wake:     make(chan struct{}, 1),
	}
	d := diffObjects(before, after)
	s.switched(old, cur, d, now)
	wantNext := map[ObjectRef]time.Time{repoRef: later, stable: now, newPol: now, fleet: later}
	if diff := cmp.Diff(wantNext, s.next); diff != "" {
		t.Errorf("next after the switch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[ObjectRef]int{repoRef: 2}, s.failures); diff != "" {
		t.Errorf("failures after the switch (-want +got):\n%s", diff)
	}
	// The automation, whose policies changed, runs after both ran.
	wantWaiting := map[ObjectRef]map[ObjectRef]bool{fleet: {stable: true, newPol: true}}
	if diff := cmp.Diff(wantWaiting, s.waiting); diff != "" {
		t.Errorf("waiting after the switch (-want +got):\n%s", diff)
	}
	s.finished(Result{Ref: stable, Changed: true}, true)
	if at := s.next[fleet]; !at.Equal(later) {
		t.Errorf("after one of its policies ran, the automation is due at %v, want %v (still waiting)", at, later)
	}
	s.finished(Result{Ref: newPol, Changed: false}, true)
	if at := s.next[fleet]; !at.Equal(now) || len(s.waiting) != 0 {
		t.Errorf("after both its policies ran, the automation is due at %v (waiting %v), want %v", at, s.waiting, now)
	}
}
