package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/runner"
)

// runReporter tells people what dockhand run is doing: on a terminal, a
// status line with counts and a line per noteworthy step (failures, new
// images, automations); otherwise structured logs (text or JSON), quiet
// about routine successes.
type runReporter struct {
	out, errOut io.Writer
	human       bool // lines for people
	status      bool // and a status line (terminals only)
	color       bool
	log         *slog.Logger

	mu       sync.Mutex
	passing  bool // in the first pass: counts are shown
	verbose  bool // few objects: every step gets a line
	once     bool
	total    map[string]int
	done     map[string]int
	current  string
	statusOn bool
}

func newRunReporter(out, errOut io.Writer, format string, terminal, plain bool) (*runReporter, error) {
	r := &runReporter{out: out, errOut: errOut, total: map[string]int{}, done: map[string]int{}}
	switch {
	case format == "auto" && terminal:
		r.human, r.status = true, true
		r.color = os.Getenv("NO_COLOR") == ""
	case format == "auto" && plain:
		r.human = true
	case format == "text":
		r.log = slog.New(slog.NewTextHandler(errOut, nil))
	case format == "json", format == "auto":
		r.log = slog.New(slog.NewJSONHandler(errOut, nil))
	default:
		return nil, fmt.Errorf("--log-format %q: want auto, text or json", format)
	}
	return r, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (r *runReporter) start(refs []runner.ObjectRef, once bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ref := range refs {
		r.total[ref.Kind]++
	}
	r.passing, r.once, r.verbose = true, once, len(refs) <= 20
	if r.log != nil {
		r.log.Info("starting", "repositories", r.total[runner.KindRepository],
			"policies", r.total[runner.KindPolicy], "automations", r.total[runner.KindAutomation], "once", once)
	}
}

func (r *runReporter) event(ev runner.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Type {
	case runner.StepStarted:
		if r.log != nil {
			r.log.Debug("reconciling", "kind", ev.Ref.Kind, "namespace", ev.Ref.Namespace, "name", ev.Ref.Name)
			return
		}
		r.current = ev.Ref.Kind + " " + ev.Ref.Namespace + "/" + ev.Ref.Name
		r.drawStatus()
	case runner.StepFinished:
		res := ev.Result
		if r.passing {
			r.done[res.Ref.Kind]++
		}
		if r.current == res.Ref.Kind+" "+res.Ref.Namespace+"/"+res.Ref.Name {
			r.current = ""
		}
		if r.log != nil {
			r.logResult(res)
			return
		}
		if line := r.line(res); line != "" {
			r.clearStatus()
			if !r.passing {
				line = time.Now().Format("15:04:05 ") + line
			}
			fmt.Fprintln(r.errOut, line)
		}
		r.drawStatus()
	case runner.PassFinished:
		r.passFinished(ev.Summary)
	case runner.Reloaded:
		r.reloaded(ev.Reload)
	}
}

// reloaded reports one reload of the manifests: what changed, or why the
// new ones are not used. Callers hold r.mu.
func (r *runReporter) reloaded(rl *runner.Reload) {
	if rl.Err != nil {
		r.reloadFailed(rl.Err)
		return
	}
	for _, ref := range rl.Added {
		r.total[ref.Kind]++
	}
	for _, ref := range rl.Removed {
		r.total[ref.Kind]--
	}
	if r.log != nil {
		r.log.Info("manifests reloaded", "added", len(rl.Added), "changed", len(rl.Changed), "removed", len(rl.Removed),
			"repositories", r.total[runner.KindRepository], "policies", r.total[runner.KindPolicy], "automations", r.total[runner.KindAutomation])
		return
	}
	r.clearStatus()
	fmt.Fprintf(r.errOut, "%smanifests reloaded: %d added, %d changed, %d removed\n",
		time.Now().Format("15:04:05 "), len(rl.Added), len(rl.Changed), len(rl.Removed))
	if r.verbose {
		for _, l := range []struct {
			what string
			refs []runner.ObjectRef
		}{{"added", rl.Added}, {"changed", rl.Changed}, {"removed", rl.Removed}} {
			for _, ref := range l.refs {
				fmt.Fprintf(r.errOut, "  %s %s\n", l.what, ref)
			}
		}
	}
	r.drawStatus()
}

func (r *runReporter) reloadFailed(err error) {
	const msg = "manifests not reloaded, still running the objects loaded before"
	if r.log != nil {
		r.log.Error(msg, "error", err.Error())
		return
	}
	r.clearStatus()
	fmt.Fprintf(r.errOut, "%s%s %s:\n", time.Now().Format("15:04:05 "), r.paint("✗", colorRed), msg)
	var invalid *runner.ManifestError
	if errors.As(err, &invalid) {
		for _, p := range invalid.Problems {
			fmt.Fprintf(r.errOut, "  %s\n", p.Error())
		}
	} else {
		fmt.Fprintf(r.errOut, "  %v\n", err)
	}
	r.drawStatus()
}

// finish is called when Run or Once has returned.
func (r *runReporter) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearStatus()
	if r.once {
		return
	}
	if r.log != nil {
		r.log.Info("stopped")
		return
	}
	fmt.Fprintln(r.errOut, "stopped")
}

// passFinished reports the first (with --once, the only) pass. Callers
// hold r.mu.
func (r *runReporter) passFinished(sum *runner.Summary) {
	r.clearStatus()
	r.passing = false
	ready, notReady, notRun := 0, 0, 0
	for _, res := range sum.Results {
		switch {
		case res.NotRun:
			notRun++
		case res.OK():
			ready++
		default:
			notReady++
		}
	}
	if r.log != nil {
		r.log.Info("pass finished", "ready", ready, "notReady", notReady, "notRun", notRun)
		return
	}
	parts := []string{fmt.Sprintf("%d ready", ready)}
	if notReady > 0 {
		parts = append(parts, fmt.Sprintf("%d not ready", notReady))
	}
	if notRun > 0 {
		parts = append(parts, fmt.Sprintf("%d not run", notRun))
	}
	w := r.out
	if !r.once {
		w = r.errOut // the running log, not a result
	}
	fmt.Fprintf(w, "%s, %s, %s: %s\n",
		count(r.total[runner.KindRepository], "repository", "repositories"),
		count(r.total[runner.KindPolicy], "policy", "policies"),
		count(r.total[runner.KindAutomation], "automation", "automations"),
		strings.Join(parts, ", "))
}

// stopping says that a signal asked to stop.
func (r *runReporter) stopping() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.log != nil {
		r.log.Info("stopping: finishing the work in flight")
		return
	}
	r.clearStatus()
	fmt.Fprintln(r.errOut, "stopping: finishing the work in flight (interrupt again to abort it)")
	r.drawStatus()
}

// warn reports a problem that does not stop the run.
func (r *runReporter) warn(msg string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.log != nil {
		r.log.Warn(msg, "error", err.Error())
		return
	}
	r.clearStatus()
	fmt.Fprintf(r.errOut, "warning: %s: %v\n", msg, err)
}

func (r *runReporter) aborting() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.log != nil {
		r.log.Warn("aborting the work in flight")
		return
	}
	r.clearStatus()
	fmt.Fprintln(r.errOut, "aborting the work in flight")
}

// line is the line a finished step gets on a terminal, "" for none.
func (r *runReporter) line(res *runner.Result) string {
	ref := res.Ref.Kind + " " + res.Ref.Namespace + "/" + res.Ref.Name
	switch state, msg := resultState(res); state {
	case stateNotRun:
		return ""
	case stateSuspended:
		return r.paint("‖", colorYellow) + " " + ref + ": suspended"
	case stateFailed:
		return r.paint("✗", colorRed) + " " + ref + ": " + msg
	case stateWaiting:
		return r.paint("…", colorYellow) + " " + ref + ": " + msg
	default:
		noteworthy := r.verbose && r.passing
		switch res.Ref.Kind {
		case runner.KindPolicy:
			if pol, ok := res.Object.(*imagev1.ImagePolicy); ok && res.Changed && pol.Status.ObservedPreviousRef != nil {
				msg += " (was " + pol.Status.ObservedPreviousRef.String() + ")"
			}
			noteworthy = noteworthy || res.Changed
		case runner.KindRepository:
			noteworthy = noteworthy || (res.Changed && !r.passing)
		case runner.KindAutomation:
			noteworthy = r.passing || automationActed(res)
		}
		if !noteworthy {
			return ""
		}
		return r.paint("✓", colorGreen) + " " + ref + ": " + msg
	}
}

// automationActed: the step pushed, or planned a change.
func automationActed(res *runner.Result) bool {
	if res.Plan != nil && (len(res.Plan.Updates) > 0 || res.Plan.Commit != "") {
		return true
	}
	auto, ok := res.Object.(*imagev1.ImageUpdateAutomation)
	if !ok || len(auto.Status.History) == 0 {
		return false
	}
	last := auto.Status.History[0]
	return last.Outcome == imagev1.RunPushed && time.Since(last.Time.Time) < time.Minute
}

type resultKind int

const (
	stateReady resultKind = iota
	stateWaiting
	stateFailed
	stateSuspended
	stateNotRun
)

// resultState classifies a result and gives its message.
func resultState(res *runner.Result) (resultKind, string) {
	switch {
	case res.NotRun:
		return stateNotRun, ""
	case res.Suspended:
		return stateSuspended, "suspended"
	}
	msg := ""
	if res.Ready != nil {
		msg = res.Ready.Message
	}
	switch {
	case res.Outcome.Err != nil:
		if res.Ready != nil && res.Ready.Status == metav1.ConditionFalse {
			return stateFailed, res.Ready.Reason + ": " + msg
		}
		return stateFailed, res.Outcome.Err.Error()
	case res.Ready == nil:
		return stateWaiting, "not reconciled yet"
	case res.Ready.Status != metav1.ConditionTrue:
		return stateWaiting, res.Ready.Reason + ": " + msg
	}
	return stateReady, msg
}

func (r *runReporter) logResult(res *runner.Result) {
	state, msg := resultState(res)
	attrs := []any{"kind", res.Ref.Kind, "namespace", res.Ref.Namespace, "name", res.Ref.Name,
		"duration", res.Duration.Round(time.Millisecond).String()}
	if res.Ready != nil {
		attrs = append(attrs, "ready", string(res.Ready.Status), "reason", res.Ready.Reason)
	}
	attrs = append(attrs, "message", msg)
	switch o := res.Object.(type) {
	case *imagev1.ImagePolicy:
		if o.Status.LatestRef != nil {
			attrs = append(attrs, "latest", o.Status.LatestRef.String())
		}
	case *imagev1.ImageUpdateAutomation:
		if len(o.Status.History) > 0 && o.Status.History[0].Commit != "" {
			attrs = append(attrs, "commit", o.Status.History[0].Commit)
		}
	case *imagev1.ImageRepository:
		if o.Status.LastScanResult != nil {
			attrs = append(attrs, "tags", o.Status.LastScanResult.TagCount)
		}
	}
	switch state {
	case stateNotRun:
	case stateFailed:
		r.log.Error("reconcile failed", attrs...)
	case stateWaiting:
		r.log.Warn("not ready", attrs...)
	case stateSuspended:
		r.log.Debug("suspended", attrs...)
	default:
		if res.Changed || res.Ref.Kind == runner.KindAutomation {
			r.log.Info("reconciled", attrs...)
		} else {
			r.log.Debug("reconciled", attrs...)
		}
	}
}

// The status line, on terminals only. Callers hold r.mu.

func (r *runReporter) drawStatus() {
	if !r.status || !r.passing {
		return
	}
	line := fmt.Sprintf("repositories %d/%d · policies %d/%d · automations %d/%d",
		r.done[runner.KindRepository], r.total[runner.KindRepository],
		r.done[runner.KindPolicy], r.total[runner.KindPolicy],
		r.done[runner.KindAutomation], r.total[runner.KindAutomation])
	if r.current != "" {
		line += " · " + r.current
	}
	if rs := []rune(line); len(rs) > 120 {
		line = string(rs[:119]) + "…"
	}
	fmt.Fprint(r.errOut, "\r\x1b[K"+line)
	r.statusOn = true
}

func (r *runReporter) clearStatus() {
	if r.statusOn {
		fmt.Fprint(r.errOut, "\r\x1b[K")
		r.statusOn = false
	}
}

const (
	colorRed    = "31"
	colorGreen  = "32"
	colorYellow = "33"
)

func (r *runReporter) paint(s, color string) string {
	if !r.color {
		return s
	}
	return "\x1b[" + color + "m" + s + "\x1b[0m"
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func shortCommit(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(prefix+l, " ")
	}
	return strings.Join(lines, "\n")
}
