package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/gitpush"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/scanner"
)

// harness is a registry, a git server with one repository of marked
// manifests, a directory of dockhand manifests and a state file.
type harness struct {
	t         *testing.T
	reg       *registry.Registry
	git       *gitserver.Server
	manifests string
	statePath string
	cacheDir  string
	state     *State // opened by the last call to runner
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: default
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s:1.0.0 # {"$imagepolicy": "default:app"}
`

func newHarness(t *testing.T) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a registry and a git server")
	}
	h := &harness{t: t, reg: registry.Start(t), git: gitserver.Start(t)}
	dir := t.TempDir()
	h.manifests = filepath.Join(dir, "manifests")
	h.statePath = filepath.Join(dir, "state", "state.db")
	h.cacheDir = filepath.Join(dir, "state", "git")
	h.reg.PushTags(t, "team/app", "1.0.0", "1.0.1")
	h.git.CreateRepo(t, "fleet", map[string]string{
		"apps/app.yaml": fmt.Sprintf(deployment, h.reg.Repo("team/app")),
		"README.md":     "fleet\n",
	})
	h.writeManifests(">=1.0.0", "1m")
	return h
}

// writeManifests writes a repository, a semver policy and an automation.
func (h *harness) writeManifests(semverRange, interval string) {
	h.t.Helper()
	h.writeFile("objects.yaml", h.objects(semverRange, interval))
}

// writeFile writes one file of the manifest directory.
func (h *harness) writeFile(name, content string) {
	h.t.Helper()
	if err := os.MkdirAll(h.manifests, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.manifests, name), []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// objects is a repository default/app, a semver policy default/app and an
// automation default/fleet.
func (h *harness) objects(semverRange, interval string) string {
	return h.repository("app", interval) + "---\n" + h.policy("app", semverRange) + "---\n" + h.automation(interval)
}

func (h *harness) repository(name, interval string) string {
	return fmt.Sprintf(`apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata:
  name: %s
spec:
  image: %s
  interval: %s
  insecure: true
`, name, h.reg.Repo("team/app"), interval)
}

func (h *harness) policy(name, semverRange string) string {
	return fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: %s
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver:
      range: '%s'
`, name, semverRange)
}

func (h *harness) automation(interval string) string {
	return fmt.Sprintf(`apiVersion: image.dockhand.dev/v1
kind: ImageUpdateAutomation
metadata:
  name: fleet
spec:
  interval: %s
  git:
    remote:
      url: %s
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: dockhand
        email: dockhand@example.com
    push:
      branch: main
  update:
    path: ./apps
`, interval, h.git.HTTP.URL("fleet"))
}

// runner loads the manifests and opens the state as a fresh process would
// (the runner's Manifests are the harness's directory unless opts names
// others). The state is closed when the test ends or when close is called.
func (h *harness) runner(opts Options) (*Runner, func()) {
	h.t.Helper()
	ctx := h.t.Context()
	if opts.Manifests == nil {
		opts.Manifests = &Manifests{Paths: []string{h.manifests}}
	}
	objs, err := opts.Manifests.Load(ctx)
	if err != nil {
		h.t.Fatalf("Manifests.Load: %v", err)
	}
	state, err := OpenState(h.statePath, StateOptions{})
	if err != nil {
		h.t.Fatalf("OpenState: %v", err)
	}
	sc, err := scanner.New()
	if err != nil {
		h.t.Fatal(err)
	}
	git, err := gitpush.New(h.cacheDir)
	if err != nil {
		h.t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Scanner: sc, Tags: state.Tags(), Git: git})
	if err != nil {
		h.t.Fatal(err)
	}
	opts.Objects, opts.Engine, opts.State = objs, eng, state
	h.state = state
	r, err := New(opts)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	var once sync.Once
	closeFn := func() {
		once.Do(func() {
			sc.Close()
			if err := state.Close(); err != nil {
				h.t.Errorf("closing state: %v", err)
			}
		})
	}
	h.t.Cleanup(closeFn)
	return r, closeFn
}

func (h *harness) deployed() string {
	h.t.Helper()
	return h.git.FileAt(h.t, "fleet", "main", "apps/app.yaml")
}

func wantAllOK(t *testing.T, sum *Summary) {
	t.Helper()
	for _, res := range sum.Results {
		if !res.OK() {
			msg := "no Ready condition"
			if res.Ready != nil {
				msg = res.Ready.Reason + ": " + res.Ready.Message
			}
			t.Errorf("%s: not OK: %s (err %v)", res.Ref, msg, res.Outcome.Err)
		}
	}
}

func TestOncePushesThenNothingAfterRestart(t *testing.T) {
	h := newHarness(t)
	r, closeState := h.runner(Options{})
	sum := r.Once(t.Context(), nil)
	wantAllOK(t, sum)
	if got := len(sum.Results); got != 3 {
		t.Fatalf("Once ran %d steps, want 3", got)
	}
	if got, want := h.deployed(), h.reg.Repo("team/app")+":1.0.1"; !strings.Contains(got, want) {
		t.Fatalf("after Once, apps/app.yaml = %q, want it to contain %q", got, want)
	}
	commits := h.git.Commits(t, "fleet", "main")
	if len(commits) != 2 {
		t.Fatalf("fleet has %d commits, want 2 (seed and dockhand's)", len(commits))
	}
	closeState()

	// A new process with nothing new: no commit, one ls-remote.
	fetches, pushes := h.git.HTTP.Fetches(), h.git.HTTP.Pushes()
	r, _ = h.runner(Options{})
	sum = r.Once(t.Context(), nil)
	wantAllOK(t, sum)
	if got := len(h.git.Commits(t, "fleet", "main")); got != 2 {
		t.Errorf("after a second Once, fleet has %d commits, want 2", got)
	}
	if got := h.git.HTTP.Pushes() - pushes; got != 0 {
		t.Errorf("second Once pushed %d times, want 0", got)
	}
	if got := h.git.HTTP.Fetches() - fetches; got != 1 {
		t.Errorf("second Once opened %d upload-pack sessions, want 1 (the ref lookup)", got)
	}
	auto := sum.Results[2].Object.(*imagev1.ImageUpdateAutomation)
	if auto.Status.LastPushCommit != commits[0].Hash {
		t.Errorf("status.lastPushCommit = %q after restart, want %q", auto.Status.LastPushCommit, commits[0].Hash)
	}
}

func TestOnceScansWhateverTheInterval(t *testing.T) {
	h := newHarness(t)
	r, closeState := h.runner(Options{})
	wantAllOK(t, r.Once(t.Context(), nil))
	closeState()

	h.reg.PushImage(t, "team/app", "1.1.0")
	r, _ = h.runner(Options{})
	wantAllOK(t, r.Once(t.Context(), nil))
	if got, want := h.deployed(), ":1.1.0"; !strings.Contains(got, want) {
		t.Errorf("a second Once within the interval did not see the new tag: apps/app.yaml = %q", got)
	}
}

func TestSpecChangeIsANewGeneration(t *testing.T) {
	h := newHarness(t)
	r, closeState := h.runner(Options{})
	wantAllOK(t, r.Once(t.Context(), nil))
	closeState()

	h.writeManifests("~1.0.0 || 0.x", "1m")
	h.reg.PushImage(t, "team/app", "1.1.0") // outside the new range
	r, closeState = h.runner(Options{})
	sum := r.Once(t.Context(), nil)
	wantAllOK(t, sum)
	pol := sum.Results[1].Object.(*imagev1.ImagePolicy)
	if pol.Generation != 2 || pol.Status.ObservedGeneration != 2 {
		t.Errorf("policy generation = %d, observed %d; want 2 and 2", pol.Generation, pol.Status.ObservedGeneration)
	}
	if got := pol.Status.LatestRef.Tag; got != "1.0.1" {
		t.Errorf("policy latest tag = %q, want 1.0.1", got)
	}
	closeState()

	state, err := OpenState(h.statePath, StateOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	rec, ok, err := state.Get(KindPolicy, "default", "app")
	if err != nil || !ok {
		t.Fatalf("state.Get(policy) = %v, %v", ok, err)
	}
	if rec.Generation != 2 || rec.Source == "" {
		t.Errorf("record generation %d, source %q; want 2 and a file:line", rec.Generation, rec.Source)
	}
}

func TestDryRunPushesNothing(t *testing.T) {
	h := newHarness(t)
	r, _ := h.runner(Options{DryRun: true})
	pushes := h.git.HTTP.Pushes()
	sum := r.Once(t.Context(), nil)
	wantAllOK(t, sum)
	plan := sum.Results[2].Plan
	if plan == nil || len(plan.Updates) != 1 {
		t.Fatalf("dry run plan = %+v, want one update", plan)
	}
	if !strings.Contains(string(plan.Updates[0].After), ":1.0.1") || plan.Message == "" {
		t.Errorf("plan after = %q, message %q", plan.Updates[0].After, plan.Message)
	}
	if got := h.git.HTTP.Pushes() - pushes; got != 0 {
		t.Errorf("dry run pushed %d times", got)
	}
	if got := len(h.git.Commits(t, "fleet", "main")); got != 1 {
		t.Errorf("fleet has %d commits after a dry run, want 1", got)
	}
}

func TestStoppedPassRunsNothing(t *testing.T) {
	h := newHarness(t)
	r, _ := h.runner(Options{})
	stop := make(chan struct{})
	close(stop)
	sum := r.Once(t.Context(), stop)
	if !sum.Stopped {
		t.Error("Summary.Stopped = false after a stopped pass")
	}
	for _, res := range sum.Results {
		if !res.NotRun {
			t.Errorf("%s ran after stop", res.Ref)
		}
	}
}

func TestFailuresAreResults(t *testing.T) {
	h := newHarness(t)
	// A repository the registry does not have.
	raw, err := os.ReadFile(filepath.Join(h.manifests, "objects.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.Replace(string(raw), "team/app\n", "team/missing\n", 1))
	if err := os.WriteFile(filepath.Join(h.manifests, "objects.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := h.runner(Options{})
	sum := r.Once(t.Context(), nil)
	failed := sum.Failed()
	// The automation has nothing to do without the policy: it is Ready.
	if len(failed) != 2 {
		t.Fatalf("Failed() = %d results, want 2 (the repository and the policy waiting for it)", len(failed))
	}
	if failed[0].Outcome.Err == nil {
		t.Errorf("repository outcome has no error")
	}
	if c := failed[1].Ready; c == nil || c.Reason != imagev1.DependencyNotReadyReason {
		t.Errorf("policy Ready = %+v, want reason %s", c, imagev1.DependencyNotReadyReason)
	}
}

func TestRunFollowsNewTagsUntilStopped(t *testing.T) {
	h := newHarness(t)
	h.writeManifests(">=1.0.0", "1s")
	var mu sync.Mutex
	var events []Event
	r, _ := h.runner(Options{OnEvent: func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev)
	}})
	stop := make(chan struct{})
	done := make(chan *Summary)
	go func() { done <- r.Run(t.Context(), stop) }()

	waitFor(t, "the first commit", func() bool { return strings.Contains(h.deployed(), ":1.0.1") })
	h.reg.PushImage(t, "team/app", "1.2.0")
	waitFor(t, "the commit of the new tag", func() bool { return strings.Contains(h.deployed(), ":1.2.0") })
	close(stop)
	select {
	case first := <-done:
		wantAllOK(t, first)
	case <-time.After(time.Minute):
		t.Fatal("Run did not return a minute after stop")
	}
	mu.Lock()
	defer mu.Unlock()
	started, finished := 0, 0
	for _, ev := range events {
		switch ev.Type {
		case StepStarted:
			started++
		case StepFinished:
			finished++
		}
	}
	if started != finished {
		t.Errorf("after Run returned, %d steps started and %d finished", started, finished)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestBackoff(t *testing.T) {
	s := &scheduler{r: &Runner{opts: Options{RetryBase: time.Second, RetryMax: 10 * time.Second}}}
	for _, tc := range []struct {
		n     int
		asked time.Duration
		want  time.Duration
	}{
		{0, 0, time.Second},
		{1, 0, 2 * time.Second},
		{3, 0, 8 * time.Second},
		{4, 0, 10 * time.Second},
		{60, 0, 10 * time.Second},
		{0, 30 * time.Second, 30 * time.Second},
	} {
		if got := s.backoff(tc.n, tc.asked); got != tc.want {
			t.Errorf("backoff(%d, %v) = %v, want %v", tc.n, tc.asked, got, tc.want)
		}
	}
}

func TestRecordWriterGroupsWrites(t *testing.T) {
	st, err := OpenState(filepath.Join(t.TempDir(), "state.db"), StateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := newRecordWriter(st)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			ref := ObjectRef{KindRepository, "ns", fmt.Sprintf("r%02d", i)}
			w.put(ref, Record{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Generation: 1, Object: []byte(`{}`)})
		})
	}
	wg.Wait()
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := st.Records()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 50 || recs[0].Name != "r00" || recs[49].Name != "r49" {
		t.Errorf("after 50 puts and a flush, %d records: first %+v", len(recs), recs[0])
	}
}

func TestOnceWithAFluxGitRepository(t *testing.T) {
	h := newHarness(t)
	raw, err := os.ReadFile(filepath.Join(h.manifests, "objects.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := strings.Replace(string(raw), "    remote:\n      url: "+h.git.HTTP.URL("fleet")+"\n", "", 1)
	objs = strings.Replace(objs, "spec:\n  interval: 1m\n  git:\n", "spec:\n  interval: 1m\n  sourceRef:\n    kind: GitRepository\n    name: fleet\n  git:\n", 1)
	if strings.Contains(objs, "remote:") || !strings.Contains(objs, "sourceRef:") {
		t.Fatalf("the automation still names its remote:\n%s", objs)
	}
	objs += fmt.Sprintf(`---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: fleet
spec:
  interval: 1m
  url: %s
  ref:
    branch: main
`, h.git.HTTP.URL("fleet"))
	if err := os.WriteFile(filepath.Join(h.manifests, "objects.yaml"), []byte(objs), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := h.runner(Options{})
	wantAllOK(t, r.Once(t.Context(), nil))
	if got := h.deployed(); !strings.Contains(got, ":1.0.1 #") {
		t.Errorf("apps/app.yaml after a run through a GitRepository:\n%s", got)
	}
}
