package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/internal/manifest"
	"github.com/dockhand-dev/dockhand/internal/runner"
)

func TestRunReporterOnATerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	var out, errOut bytes.Buffer
	rep, err := newRunReporter(&out, &errOut, "auto", true, false)
	if err != nil {
		t.Fatal(err)
	}
	repo := runner.ObjectRef{Kind: runner.KindRepository, Namespace: "apps", Name: "web"}
	pol := runner.ObjectRef{Kind: runner.KindPolicy, Namespace: "apps", Name: "web"}
	auto := runner.ObjectRef{Kind: runner.KindAutomation, Namespace: "apps", Name: "fleet"}
	ready := func(msg string) *metav1.Condition {
		return &metav1.Condition{Type: imagev1.ReadyCondition, Status: metav1.ConditionTrue, Reason: imagev1.SucceededReason, Message: msg}
	}
	policy := &imagev1.ImagePolicy{Status: imagev1.ImagePolicyStatus{
		LatestRef:           &imagev1.ImageRef{Name: "r/web", Tag: "1.1.0"},
		ObservedPreviousRef: &imagev1.ImageRef{Name: "r/web", Tag: "1.0.0"},
	}}
	results := []runner.Result{
		{Ref: repo, Object: &imagev1.ImageRepository{}, Ready: ready("successful scan: found 3 tags"), Changed: true},
		{Ref: pol, Object: policy, Ready: ready("latest image r/web:1.1.0"), Changed: true},
		{Ref: auto, Object: &imagev1.ImageUpdateAutomation{},
			Ready:   &metav1.Condition{Type: imagev1.ReadyCondition, Status: metav1.ConditionFalse, Reason: imagev1.GitOperationFailedReason, Message: "push refused"},
			Outcome: engine.Outcome{Err: errors.New("push refused")}},
	}
	rep.start([]runner.ObjectRef{repo, pol, auto}, true)
	for i := range results {
		rep.event(runner.Event{Type: runner.StepStarted, Ref: results[i].Ref})
		rep.event(runner.Event{Type: runner.StepFinished, Ref: results[i].Ref, Result: &results[i]})
	}
	rep.event(runner.Event{Type: runner.PassFinished, Summary: &runner.Summary{Results: results}})
	rep.finish()

	progress := errOut.String()
	for _, want := range []string{
		"\r\x1b[Krepositories 0/1 · policies 0/1 · automations 0/1 · ImageRepository apps/web",
		"✓ ImageRepository apps/web: successful scan: found 3 tags\n",
		"✓ ImagePolicy apps/web: latest image r/web:1.1.0 (was r/web:1.0.0)\n",
		"✗ ImageUpdateAutomation apps/fleet: GitOperationFailed: push refused\n",
	} {
		if !strings.Contains(progress, want) {
			t.Errorf("progress lacks %q:\n%q", want, progress)
		}
	}
	if !strings.HasSuffix(progress, "\r\x1b[K") {
		t.Errorf("the status line is not cleared at the end: %q", progress[max(0, len(progress)-40):])
	}
	if got, want := out.String(), "1 repository, 1 policy, 1 automation: 2 ready, 1 not ready\n"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestResultState(t *testing.T) {
	waiting := &metav1.Condition{Type: imagev1.ReadyCondition, Status: metav1.ConditionFalse, Reason: imagev1.DependencyNotReadyReason, Message: "not scanned"}
	for _, tc := range []struct {
		name string
		res  runner.Result
		want resultKind
		msg  string
	}{
		{"not run", runner.Result{NotRun: true}, stateNotRun, ""},
		{"suspended", runner.Result{Suspended: true}, stateSuspended, "suspended"},
		{"waiting", runner.Result{Ready: waiting}, stateWaiting, "DependencyNotReady: not scanned"},
		{"failed without condition", runner.Result{Outcome: engine.Outcome{Err: errors.New("boom")}}, stateFailed, "boom"},
		{"never reconciled", runner.Result{}, stateWaiting, "not reconciled yet"},
	} {
		kind, msg := resultState(&tc.res)
		if kind != tc.want || msg != tc.msg {
			t.Errorf("%s: resultState = %v, %q; want %v, %q", tc.name, kind, msg, tc.want, tc.msg)
		}
	}
}

func TestRunReporterReloads(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	pol := runner.ObjectRef{Kind: runner.KindPolicy, Namespace: "apps", Name: "web"}
	edge := runner.ObjectRef{Kind: runner.KindPolicy, Namespace: "apps", Name: "edge"}
	auto := runner.ObjectRef{Kind: runner.KindAutomation, Namespace: "apps", Name: "fleet"}
	invalid := &runner.ManifestError{Problems: []manifest.Problem{{
		Source: manifest.Source{File: "clusters/policy.yaml", Line: 9}, Object: "ImagePolicy apps/bad", Message: "spec.policy: Required value",
	}}}
	reloads := []runner.Event{
		{Type: runner.Reloaded, Reload: &runner.Reload{Err: invalid}},
		{Type: runner.Reloaded, Reload: &runner.Reload{Added: []runner.ObjectRef{edge}, Changed: []runner.ObjectRef{pol}, Removed: []runner.ObjectRef{auto}}},
	}

	var errOut bytes.Buffer
	rep, err := newRunReporter(&bytes.Buffer{}, &errOut, "json", false, false)
	if err != nil {
		t.Fatal(err)
	}
	rep.start([]runner.ObjectRef{pol, auto}, false)
	for _, ev := range reloads {
		rep.event(ev)
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("JSON log has %d records, want 3 (starting and one per reload):\n%s", len(lines), errOut.String())
	}
	var failed, done map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &failed); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[2]), &done); err != nil {
		t.Fatal(err)
	}
	if failed["level"] != "ERROR" || !strings.Contains(fmt.Sprint(failed["error"]), "clusters/policy.yaml:9: ImagePolicy apps/bad: spec.policy: Required value") {
		t.Errorf("failed reload record = %v, want an error locating the problem", failed)
	}
	want := map[string]any{"msg": "manifests reloaded", "added": 1.0, "changed": 1.0, "removed": 1.0, "repositories": 0.0, "policies": 2.0, "automations": 0.0}
	for k, v := range want {
		if done[k] != v {
			t.Errorf("reload record %s = %v, want %v (record %v)", k, done[k], v, done)
		}
	}

	errOut.Reset()
	rep, err = newRunReporter(&bytes.Buffer{}, &errOut, "auto", true, false)
	if err != nil {
		t.Fatal(err)
	}
	rep.start([]runner.ObjectRef{pol, auto}, false)
	rep.event(runner.Event{Type: runner.PassFinished, Summary: &runner.Summary{}})
	for _, ev := range reloads {
		rep.event(ev)
	}
	for _, want := range []string{
		"✗ manifests not reloaded, still running the objects loaded before:\n  clusters/policy.yaml:9: ImagePolicy apps/bad: spec.policy: Required value\n",
		"manifests reloaded: 1 added, 1 changed, 1 removed\n  added ImagePolicy apps/edge\n  changed ImagePolicy apps/web\n  removed ImageUpdateAutomation apps/fleet\n",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("terminal output lacks %q:\n%s", want, errOut.String())
		}
	}
}
