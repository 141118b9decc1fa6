package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// runFixture is a registry with team/app:1.0.0 and 1.0.1, a git server
// with the repository "fleet" whose apps/app.yaml marks the image for
// policy default:app, and dockhand manifests for the three kinds.
type runFixture struct {
	t         *testing.T
	reg       *registry.Registry
	git       *gitserver.Server
	dir       string
	manifests string
	state     string
}

func newRunFixture(t *testing.T) *runFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a registry and a git server")
	}
	f := &runFixture{t: t, reg: registry.Start(t), git: gitserver.Start(t), dir: t.TempDir()}
	f.manifests = filepath.Join(f.dir, "manifests")
	f.state = filepath.Join(f.dir, "state.db")
	f.reg.PushTags(t, "team/app", "1.0.0", "1.0.1")
	f.git.CreateRepo(t, "fleet", map[string]string{
		"apps/app.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s:1.0.0 # {"$imagepolicy": "default:app"}
`, f.reg.Repo("team/app")),
	})
	f.write("objects.yaml", f.objects())
	return f
}

func (f *runFixture) objects() string {
	return repositoryYAML("app", f.reg.Repo("team/app")) + "---\n" +
		policyYAML("image.toolkit.fluxcd.io/v1", "app", `semver:
  range: ">=1.0.0"`) + "---\n" +
		automationYAML("", "fleet", f.git.HTTP.URL("fleet"), "./apps")
}

func (f *runFixture) write(name, content string) {
	f.t.Helper()
	path := filepath.Join(f.manifests, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *runFixture) opts() runOptions {
	return runOptions{
		files:       []string{f.manifests},
		once:        true,
		statePath:   f.state,
		namespace:   "default",
		concurrency: 4,
		logFormat:   "text",
		getenv:      func(string) string { return "" },
		home:        f.dir,
	}
}

func (f *runFixture) commits() int {
	return len(f.git.Commits(f.t, "fleet", "main"))
}

// run runs dockhand run and returns its output and exit code.
func (f *runFixture) run(opts runOptions) (stdout, stderr string, code int) {
	f.t.Helper()
	var out, errOut bytes.Buffer
	err := runRun(f.t.Context(), &out, &errOut, opts)
	code = 0
	if err != nil {
		code = 1
		if e, ok := asExitError(err); ok {
			code = e.code
		}
	}
	return out.String(), errOut.String(), code
}

func TestRunOnce(t *testing.T) {
	f := newRunFixture(t)
	out, errOut, code := f.run(f.opts())
	if code != 0 {
		t.Fatalf("run --once exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := f.git.FileAt(t, "fleet", "main", "apps/app.yaml"); !strings.Contains(got, ":1.0.1 #") {
		t.Errorf("apps/app.yaml after run --once:\n%s", got)
	}
	if got := f.commits(); got != 2 {
		t.Errorf("fleet has %d commits, want 2", got)
	}

	pushes := f.git.HTTP.Pushes()
	if _, errOut, code := f.run(f.opts()); code != 0 {
		t.Fatalf("second run --once exit %d:\n%s", code, errOut)
	}
	if got := f.git.HTTP.Pushes() - pushes; got != 0 || f.commits() != 2 {
		t.Errorf("second run --once pushed %d times, fleet has %d commits; want 0 and 2", got, f.commits())
	}
}

func TestRunDryRun(t *testing.T) {
	f := newRunFixture(t)
	opts := f.opts()
	opts.dryRun, opts.once = true, false
	out, errOut, code := f.run(opts)
	if code != 0 {
		t.Fatalf("run --dry-run exit %d\nstderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"# ImageUpdateAutomation default/fleet: 1 file(s) would change",
		"--- a/apps/app.yaml\n+++ b/apps/app.yaml\n",
		"+          image: " + f.reg.Repo("team/app") + ":1.0.1 #",
		"# commit message:\n#   ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if got := f.commits(); got != 1 {
		t.Errorf("fleet has %d commits after a dry run, want 1", got)
	}
	if _, err := os.Stat(f.state); err == nil {
		t.Errorf("a dry run created the state file %s", f.state)
	}
}

// A run forgets the objects that left the manifests; a dry run, which
// works on a copy of the state file, leaves the file as it was.
func TestRunPrunesTheStateButADryRunDoesNot(t *testing.T) {
	f := newRunFixture(t)
	f.write("old.yaml", repositoryYAML("old", f.reg.Repo("team/app")))
	if _, errOut, code := f.run(f.opts()); code != 0 {
		t.Fatalf("run --once exit %d\n%s", code, errOut)
	}
	if err := os.Remove(filepath.Join(f.manifests, "old.yaml")); err != nil {
		t.Fatal(err)
	}
	recorded := func() bool {
		t.Helper()
		recs, err := readStateRecords(t.Context(), f.state)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Name == "old" {
				return true
			}
		}
		return false
	}

	opts := f.opts()
	opts.dryRun = true
	if _, errOut, code := f.run(opts); code != 0 {
		t.Fatalf("run --dry-run exit %d\n%s", code, errOut)
	}
	if !recorded() {
		t.Error("a dry run removed the record of default/old from the state file")
	}
	if _, errOut, code := f.run(f.opts()); code != 0 {
		t.Fatalf("second run --once exit %d\n%s", code, errOut)
	}
	if recorded() {
		t.Error("after a run without it, the state file still records default/old")
	}
}

// Two sets of manifests may share one state file (the default one, say):
// a run forgets only the objects of its own files.
func TestRunKeepsTheStateOfOtherManifests(t *testing.T) {
	f := newRunFixture(t)
	other := filepath.Join(f.dir, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	err := os.WriteFile(filepath.Join(other, "repo.yaml"), []byte(repositoryYAML("elsewhere", f.reg.Repo("team/app"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	opts := f.opts()
	opts.files = []string{other}
	if _, errOut, code := f.run(opts); code != 0 {
		t.Fatalf("run --once over the other manifests: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := f.run(f.opts()); code != 0 {
		t.Fatalf("run --once: exit %d\n%s", code, errOut)
	}
	recs, err := readStateRecords(t.Context(), f.state)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rec := range recs {
		names = append(names, rec.Name)
	}
	if !slices.Contains(names, "elsewhere") || !slices.Contains(names, "app") {
		t.Errorf("records after runs over two sets of manifests: %v, want both sets' objects", names)
	}
}

func TestRunInvalidManifests(t *testing.T) {
	f := newRunFixture(t)
	f.write("bad.yaml", policyYAML("image.dockhand.dev/v1", "bad", "{}")) // no policy chosen
	pushes := f.git.HTTP.Pushes()
	_, errOut, code := f.run(f.opts())
	if code != exitRunInvalid {
		t.Errorf("exit %d, want %d", code, exitRunInvalid)
	}
	if want := filepath.Join(f.manifests, "bad.yaml") + ":"; !strings.Contains(errOut, want) || !strings.Contains(errOut, "ImagePolicy default/bad") {
		t.Errorf("stderr does not locate the problem (want %q…ImagePolicy default/bad):\n%s", want, errOut)
	}
	if f.git.HTTP.Pushes() != pushes {
		t.Error("a run with invalid manifests pushed")
	}
}

func TestRunExitCodeWhenNotReady(t *testing.T) {
	f := newRunFixture(t)
	f.write("objects.yaml", strings.Replace(f.objects(), "team/app\n", "team/missing\n", 1))
	_, errOut, code := f.run(f.opts())
	if code != exitRunFailed {
		t.Errorf("exit %d with a missing image repository, want %d\n%s", code, exitRunFailed, errOut)
	}
}

func TestRunJSONLogs(t *testing.T) {
	f := newRunFixture(t)
	opts := f.opts()
	opts.logFormat = "auto" // not a terminal: JSON
	_, errOut, code := f.run(opts)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(errOut))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		msgs = append(msgs, fmt.Sprint(rec["msg"], " ", rec["kind"]))
	}
	// Routine successes are debug records; a first scan is a change.
	want := []string{"starting <nil>", "reconciled ImageRepository", "reconciled ImagePolicy", "reconciled ImageUpdateAutomation", "pass finished <nil>"}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("log messages:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}

func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts runOptions
	}{
		{"no files", runOptions{concurrency: 1, logFormat: "auto"}},
		{"bad log format", runOptions{files: []string{"x"}, concurrency: 1, logFormat: "xml"}},
		{"no concurrency", runOptions{files: []string{"x"}, logFormat: "auto"}},
		{"negative reload interval", runOptions{files: []string{"x"}, concurrency: 1, logFormat: "auto", reloadInterval: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runRun(t.Context(), &bytes.Buffer{}, &bytes.Buffer{}, tc.opts)
			if e, ok := asExitError(err); !ok || e.code != exitRunInvalid {
				t.Errorf("runRun = %v, want exit %d", err, exitRunInvalid)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry and a git server")
	}
	var out bytes.Buffer
	opts := demoOptions{interval: 500 * time.Millisecond, wait: time.Minute}
	if err := runDemo(t.Context(), &out, &out, opts); err != nil {
		t.Fatalf("runDemo: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{":1.0.0 -> ", ":1.0.1\n", ":1.0.1 -> ", ":1.1.0\n", "published  "} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\ncommit "); n != 2 {
		t.Errorf("demo showed %d commits, want 2:\n%s", n, got)
	}
}

// repositoryYAML is an ImageRepository of ours for image, scanned over
// plain HTTP every five minutes.
func repositoryYAML(name, image string) string {
	return `apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata:
  name: ` + name + `
spec:
  image: ` + image + `
  interval: 5m
  insecure: true
`
}

// policyYAML is an ImagePolicy of apiVersion on the repository "app";
// policy is the YAML of spec.policy, indented by two spaces per level.
func policyYAML(apiVersion, name, policy string) string {
	lines := strings.Split(strings.TrimSuffix(policy, "\n"), "\n")
	return `apiVersion: ` + apiVersion + `
kind: ImagePolicy
metadata:
  name: ` + name + `
spec:
  imageRepositoryRef:
    name: app
  policy:
    ` + strings.Join(lines, "\n    ") + "\n"
}

// automationYAML is an ImageUpdateAutomation of ours that commits to and
// pushes the main branch of url every five minutes; namespace and
// updatePath are left out when empty.
func automationYAML(namespace, name, url, updatePath string) string {
	var b strings.Builder
	b.WriteString("apiVersion: image.dockhand.dev/v1\nkind: ImageUpdateAutomation\nmetadata:\n  name: " + name + "\n")
	if namespace != "" {
		b.WriteString("  namespace: " + namespace + "\n")
	}
	b.WriteString(`spec:
  interval: 5m
  git:
    remote:
      url: ` + url + `
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: dockhand
        email: dockhand@example.com
    push:
      branch: main
`)
	if updatePath != "" {
		b.WriteString("  update:\n    path: " + updatePath + "\n")
	}
	return b.String()
}
