package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/internal/manifest"
)

// The end-to-end tests build the dockhand binary once and run it as a
// process against the fixtures, as a user or a CI job would.

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	if err := stopTestEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// dockhandBinary builds cmd/dockhand (without the race detector, like a
// release) and returns its path.
func dockhandBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "dockhand-e2e-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "dockhand")
		cmd := exec.Command("go", "build", "-o", built.path, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// e2eEnv is a clean environment: a home of its own, no credentials.
func e2eEnv(home string) []string {
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}
	for _, k := range []string{"SSL_CERT_FILE", "SSL_CERT_DIR", "TMPDIR"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

type procResult struct {
	stdout, stderr string
	code           int
}

// dockhand runs the binary to completion.
func (f *runFixture) dockhand(args ...string) procResult {
	f.t.Helper()
	cmd := f.command(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := procResult{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		f.t.Fatalf("running dockhand %s: %v", strings.Join(args, " "), err)
	}
	return res
}

func (f *runFixture) command(args ...string) *exec.Cmd {
	cmd := exec.CommandContext(f.t.Context(), dockhandBinary(f.t), args...)
	cmd.Env = e2eEnv(f.dir)
	cmd.Dir = f.dir
	return cmd
}

func (f *runFixture) runArgs(extra ...string) []string {
	return append([]string{"run", "-f", f.manifests, "--state", f.state, "--log-format", "json"}, extra...)
}

func TestE2ERunOnceThenNothingNew(t *testing.T) {
	f := newRunFixture(t)
	res := f.dockhand(f.runArgs("--once")...)
	if res.code != 0 {
		t.Fatalf("run --once: exit %d\n%s", res.code, res.stderr)
	}
	commits := f.git.Commits(t, "fleet", "main")
	if len(commits) != 2 || commits[0].AuthorName != "dockhand" {
		t.Fatalf("after run --once, fleet's commits: %+v", commits)
	}
	if got := f.git.FileAt(t, "fleet", "main", "apps/app.yaml"); !strings.Contains(got, ":1.0.1 #") {
		t.Errorf("apps/app.yaml after run --once:\n%s", got)
	}

	// Nothing new: no commit, no clone, one look at the remote's refs.
	fetches, pushes := f.git.HTTP.Fetches(), f.git.HTTP.Pushes()
	res = f.dockhand(f.runArgs("--once")...)
	if res.code != 0 {
		t.Fatalf("second run --once: exit %d\n%s", res.code, res.stderr)
	}
	if got := f.commits(); got != 2 {
		t.Errorf("fleet has %d commits after a second run, want 2", got)
	}
	if got := f.git.HTTP.Pushes() - pushes; got != 0 {
		t.Errorf("second run pushed %d times", got)
	}
	if got := f.git.HTTP.Fetches() - fetches; got != 1 {
		t.Errorf("second run opened %d upload-pack sessions, want 1 (ls-remote, no clone or fetch)", got)
	}
}

func TestE2EDryRunChangesNothingRemote(t *testing.T) {
	f := newRunFixture(t)
	pushes := f.git.HTTP.Pushes()
	res := f.dockhand(f.runArgs("--dry-run")...)
	if res.code != 0 {
		t.Fatalf("run --dry-run: exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "+          image: "+f.reg.Repo("team/app")+":1.0.1") {
		t.Errorf("run --dry-run printed no diff:\n%s", res.stdout)
	}
	if f.git.HTTP.Pushes() != pushes || f.commits() != 1 {
		t.Errorf("run --dry-run changed the remote: %d pushes, %d commits", f.git.HTTP.Pushes()-pushes, f.commits())
	}
}

func TestE2EInvalidManifestsAreLocated(t *testing.T) {
	f := newRunFixture(t)
	f.write("broken/policy.yaml", policyYAML("image.toolkit.fluxcd.io/v1", "broken", "semver:\n  range: \">=1.0.0\"\nalphabetical:\n  order: asc"))
	res := f.dockhand(f.runArgs("--once")...)
	if res.code != exitRunInvalid {
		t.Errorf("exit %d, want %d", res.code, exitRunInvalid)
	}
	loc := regexp.MustCompile(regexp.QuoteMeta(filepath.Join(f.manifests, "broken", "policy.yaml")) + `:\d+: ImagePolicy default/broken: `)
	if !loc.MatchString(res.stderr) {
		t.Errorf("stderr does not locate the problem with file:line:\n%s", res.stderr)
	}
	if f.commits() != 1 {
		t.Error("a run with invalid manifests made a commit")
	}
}

func TestE2ESigtermMidRunThenRestart(t *testing.T) {
	f := newRunFixture(t)
	// Hold the scan long enough to stop the run in the middle of it.
	fault := f.reg.InjectFault(registry.Fault{Method: "GET", Path: regexp.MustCompile(`/tags/list$`), Delay: 3 * time.Second, Times: 1})
	cmd := f.command(f.runArgs("--once")...)
	var errOut lockedBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := fault.WaitHits(ctx, 1); err != nil {
		t.Fatalf("the run never scanned: %v\n%s", err, errOut.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitRunInterrupted {
		t.Fatalf("run --once after SIGTERM: %v, want exit %d\n%s", err, exitRunInterrupted, errOut.String())
	}
	if !strings.Contains(errOut.String(), "stopping") {
		t.Errorf("no word of stopping in the log:\n%s", errOut.String())
	}
	if f.commits() != 1 {
		t.Errorf("fleet has %d commits after an interrupted run, want 1", f.commits())
	}

	// The scan finished before the process left: the restart has its tags.
	res := f.dockhand(f.runArgs("--once")...)
	if res.code != 0 {
		t.Fatalf("run --once after the restart: exit %d\n%s", res.code, res.stderr)
	}
	if f.commits() != 2 {
		t.Errorf("fleet has %d commits after the restart, want 2", f.commits())
	}
}

func TestE2EMigrate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := copyTree(t, filepath.Join("testdata", "migrate", "input"))
	if err := os.Remove(filepath.Join(dir, "problems.yaml")); err != nil {
		t.Fatal(err)
	}
	before := readTree(t, dir)
	cmd := exec.CommandContext(t.Context(), dockhandBinary(t), "migrate")
	cmd.Dir, cmd.Env = dir, e2eEnv(t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dockhand migrate: %v\n%s", err, out)
	}
	after := readTree(t, dir)
	for name := range before {
		checkOnlyAPIVersions(t, name, before[name], after[name])
	}
	objs, problems, err := manifest.Load(t.Context(), []string{dir}, manifest.Options{})
	if err != nil || len(problems) > 0 {
		t.Fatalf("loading the migrated files: %v %v", problems, err)
	}
	if got := [3]int{len(objs.Repositories), len(objs.Policies), len(objs.Automations)}; got != [3]int{3, 2, 1} {
		t.Errorf("migrated files hold %v repositories, policies, automations; want [3 2 1]", got)
	}
	for name, content := range after {
		for _, l := range strings.Split(content, "\n") {
			if strings.Contains(l, "apiVersion:") && strings.Contains(l, "image.toolkit.fluxcd.io") {
				t.Errorf("%s still has %q", name, l)
			}
		}
	}
}

func TestE2ELongRunningFollowsTagsAndStopsOnSIGTERM(t *testing.T) {
	f := newRunFixture(t)
	f.write("objects.yaml", strings.ReplaceAll(f.objects(), "interval: 5m", "interval: 1s"))
	run := f.startLongRun(t, f.runArgs()...)
	run.waitFor("the first commit", f.deployed(t, "1.0.1"))
	f.reg.PushImage(t, "team/app", "1.2.0")
	run.waitFor("the commit of the new tag", f.deployed(t, "1.2.0"))

	// The file is held; dockhand get reads it through the runner.
	res := f.dockhand("get", "images", "policies", "--state", f.state)
	if res.code != 0 || !strings.Contains(res.stdout, f.reg.Repo("team/app")+":1.2.0") {
		t.Errorf("get images policies while running: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// So does a dry run, which works on a copy the runner hands it.
	pushes := f.git.HTTP.Pushes()
	res = f.dockhand(f.runArgs("--dry-run")...)
	if res.code != 0 {
		t.Errorf("run --dry-run while running: exit %d\n%s", res.code, res.stderr)
	}
	if f.git.HTTP.Pushes() != pushes {
		t.Errorf("run --dry-run while running pushed")
	}

	run.stop()
	if got := f.commits(); got != 3 {
		t.Errorf("fleet has %d commits, want 3 (seed, 1.0.1, 1.2.0)", got)
	}
	// After the restart the state still says what was pushed.
	res = f.dockhand("get", "images", "updates", "--state", f.state, "-o", "json")
	if res.code != 0 || !strings.Contains(res.stdout, f.git.BranchHead(t, "fleet", "main")) {
		t.Errorf("get images updates -o json after the run does not name the last push:\n%s%s", res.stdout, res.stderr)
	}
}

func TestE2EDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts servers")
	}
	cmd := exec.CommandContext(t.Context(), dockhandBinary(t), "demo")
	cmd.Env = e2eEnv(t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dockhand demo: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "\ncommit "); n != 2 || !strings.Contains(string(out), "\nDone in ") {
		t.Errorf("dockhand demo showed %d commits:\n%s", n, out)
	}
}

// lockedBuffer is a bytes.Buffer that a child process's output may be
// written to while a test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestE2ECredentialsFromEnvironment runs against a registry and a Git
// server that both want credentials, none of them in Secrets: the docker
// config for the registry, GIT_USERNAME/GIT_PASSWORD for Git over HTTPS,
// and an SSH key and known_hosts file for Git over SSH.
func TestE2ECredentialsFromEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry, a git server and sshd")
	}
	reg := registry.Start(t, registry.WithTLS(), registry.WithBasicAuth("ci", "s3cret"))
	git := gitserver.Start(t, gitserver.WithTLS(), gitserver.WithBasicAuth("bot", "t0ken"), gitserver.WithSSH())
	reg.PushTags(t, "team/app", "1.0.0", "1.0.1")
	deployment := fmt.Sprintf("image: %s:1.0.0 # {\"$imagepolicy\": \"default:app\"}\n", reg.Repo("team/app"))
	git.CreateRepo(t, "over-https", map[string]string{"app.yaml": deployment})
	git.CreateRepo(t, "over-ssh", map[string]string{"app.yaml": deployment})

	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", string(reg.CACertPEM())+string(git.HTTP.CACertPEM()))
	write("docker/config.json", fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, reg.Host(), base64.StdEncoding.EncodeToString([]byte("ci:s3cret"))))
	automation := func(name, url string) string { return "---\n" + automationYAML("", name, url, "") }
	manifests := write("manifests/objects.yaml", fmt.Sprintf(`apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata:
  name: app
spec:
  image: %s
  interval: 5m
---
`, reg.Repo("team/app"))+policyYAML("image.dockhand.dev/v1", "app", `semver:
  range: ">=1.0.0"`)+automation("https", git.HTTP.URL("over-https"))+automation("ssh", git.SSH.URL("over-ssh")))

	run := func(state string, extraEnv ...string) procResult {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), dockhandBinary(t), "run", "-f", manifests, "--once", "--state", state, "--log-format", "json")
		cmd.Env = append(e2eEnv(dir), append([]string{"SSL_CERT_FILE=" + caFile}, extraEnv...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		res := procResult{stdout: out.String(), stderr: errOut.String()}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			res.code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// Without credentials nothing works, and nothing leaks.
	res := run(filepath.Join(dir, "none.db"))
	if res.code != exitRunFailed {
		t.Errorf("run without credentials: exit %d, want %d\n%s", res.code, exitRunFailed, res.stderr)
	}
	for _, secret := range []string{"s3cret", "t0ken"} {
		if strings.Contains(res.stderr, secret) {
			t.Errorf("the log mentions a secret:\n%s", res.stderr)
		}
	}

	res = run(filepath.Join(dir, "state.db"),
		"DOCKER_CONFIG="+filepath.Join(dir, "docker"),
		"GIT_USERNAME=bot", "GIT_PASSWORD=t0ken",
		"GIT_SSH_KEY_FILE="+git.SSH.UserKeyFile(), "GIT_SSH_KNOWN_HOSTS_FILE="+git.SSH.KnownHostsFile())
	if res.code != 0 {
		t.Fatalf("run with credentials from the environment: exit %d\n%s", res.code, res.stderr)
	}
	for _, repo := range []string{"over-https", "over-ssh"} {
		if got := git.FileAt(t, repo, "main", "app.yaml"); !strings.Contains(got, ":1.0.1 #") {
			t.Errorf("%s/app.yaml = %q, want the 1.0.1 image", repo, got)
		}
	}
	if strings.Contains(res.stderr, "t0ken") || strings.Contains(res.stderr, "s3cret") {
		t.Errorf("the log mentions a secret:\n%s", res.stderr)
	}
}

// longRun is a dockhand run started in the background by a test.
type longRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	errOut *lockedBuffer
	exited chan error
	done   bool
}

// startLongRun starts the binary with args; it is killed when the test
// ends unless stop ended it first.
func (f *runFixture) startLongRun(t *testing.T, args ...string) *longRun {
	t.Helper()
	r := &longRun{t: t, cmd: f.command(args...), errOut: &lockedBuffer{}, exited: make(chan error, 1)}
	r.cmd.Stderr = r.errOut
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		if !r.done {
			r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return r
}

// waitFor polls cond until it holds, failing the test after a minute.
func (r *longRun) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s\n%s", what, r.errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects the process to exit 0 within a minute.
func (r *longRun) stop() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatal(err)
	}
	select {
	case err := <-r.exited:
		r.done = true
		if err != nil {
			r.t.Errorf("dockhand run after SIGTERM: %v, want exit 0\n%s", err, r.errOut.String())
		}
	case <-time.After(time.Minute):
		r.t.Fatalf("dockhand run did not stop within a minute of SIGTERM\n%s", r.errOut.String())
	}
}

// deployed reports whether the fleet's manifest on the remote uses tag.
func (f *runFixture) deployed(t *testing.T, tag string) func() bool {
	return func() bool {
		return strings.Contains(f.git.FileAt(t, "fleet", "main", "apps/app.yaml"), ":"+tag+" #")
	}
}
