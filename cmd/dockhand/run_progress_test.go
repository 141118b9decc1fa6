package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/engine"
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
