package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// Sizes of the runner benchmark (issue 8): 200 repositories and policies,
// one automation over a repository of 10,000 manifests, 200 of them marked.
const (
	benchRepositories = 200
	benchTagsEach     = 30
	benchFiles        = 10_000
)

// runBench is the registry, git server and manifests of the benchmark.
type runBench struct {
	reg       *registry.Registry
	git       *gitserver.Server
	dir       string
	bin       string
	manifests string
	repos     int // git repositories made so far, for fresh remotes
}

func newRunBench(b *testing.B) *runBench {
	b.Helper()
	if testing.Short() {
		b.Skip("starts a registry and a git server and builds the binary")
	}
	rb := &runBench{reg: registry.Start(b), git: gitserver.Start(b), dir: b.TempDir()}
	rb.bin = dockhandBinary(b)
	tags := make([]string, benchTagsEach)
	for i := range tags {
		tags[i] = fmt.Sprintf("1.0.%d", i)
	}
	for i := range benchRepositories {
		if _, err := rb.reg.WriteImage(b.Context(), fmt.Sprintf("apps/app-%05d", i), tags...); err != nil {
			b.Fatal(err)
		}
	}
	return rb
}

// freshRemote generates the 10k-file repository under a new name and
// writes manifests pointing at it.
func (rb *runBench) freshRemote(b *testing.B) {
	b.Helper()
	rb.repos++
	name := fmt.Sprintf("fleet-%d", rb.repos)
	if _, err := rb.git.GenerateLarge(b.Context(), name, gitserver.LargeRepo{Files: benchFiles, Markers: benchRepositories}); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for i := range benchRepositories {
		fmt.Fprintf(&sb, `apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata:
  name: app-%05[1]d
  namespace: apps
spec:
  image: %[2]s
  interval: 5m
  insecure: true
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app-%05[1]d
  namespace: apps
spec:
  imageRepositoryRef:
    name: app-%05[1]d
  policy:
    semver:
      range: ">=1.0.0"
---
`, i, rb.reg.Repo(fmt.Sprintf("apps/app-%05d", i)))
	}
	sb.WriteString(automationYAML("apps", "fleet", rb.git.HTTP.URL(name), "./"))
	rb.manifests = filepath.Join(rb.dir, name+".yaml")
	if err := os.WriteFile(rb.manifests, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

// run runs dockhand run --once and returns its wall time, peak RSS and
// CPU time (user and system; zero without GNU time).
//
// The peak RSS comes from GNU time (/usr/bin/time), which forks dockhand
// itself. The rusage of a process started directly from this one would be
// wrong: Go starts children with CLONE_VM, and Linux carries the
// parent's (this benchmark's, registry included) high-water mark into the
// child's ru_maxrss at exec. Without GNU time, the child's VmHWM is polled
// instead, which may miss a peak in its last moments.
func (rb *runBench) run(b *testing.B, state string) (time.Duration, int64, time.Duration) {
	b.Helper()
	args := []string{"run", "-f", rb.manifests, "--once", "--state", state, "--log-format", "json"}
	rssFile := filepath.Join(rb.dir, "maxrss")
	gnuTime := "/usr/bin/time"
	var cmd *exec.Cmd
	if _, err := os.Stat(gnuTime); err == nil {
		cmd = exec.CommandContext(b.Context(), gnuTime, append([]string{"-f", "%M %U %S", "-o", rssFile, rb.bin}, args...)...)
	} else {
		gnuTime = ""
		cmd = exec.CommandContext(b.Context(), rb.bin, args...)
	}
	cmd.Env = e2eEnv(rb.dir)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var polled int64
	done := make(chan struct{})
	if gnuTime == "" {
		go func() {
			defer close(done)
			for {
				if hwm := vmHWM(cmd.Process.Pid); hwm > polled {
					polled = hwm
				}
				select {
				case <-b.Context().Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
				if cmd.ProcessState != nil {
					return
				}
			}
		}()
	} else {
		close(done)
	}
	err := cmd.Wait()
	wall := time.Since(start)
	<-done
	if err != nil {
		b.Fatalf("dockhand run --once: %v\n%s", err, lastLines(errOut.String(), 20))
	}
	if gnuTime == "" {
		return wall, polled, 0
	}
	raw, err := os.ReadFile(rssFile)
	if err != nil {
		b.Fatal(err)
	}
	var kb int64
	var user, sys float64
	if _, err := fmt.Sscan(strings.TrimSpace(lastLines(string(raw), 1)), &kb, &user, &sys); err != nil {
		b.Fatalf("reading GNU time's output %q: %v", raw, err)
	}
	return wall, kb * 1024, time.Duration((user + sys) * float64(time.Second))
}

// vmHWM reads the peak resident set size of a running process, 0 when it
// cannot.
func vmHWM(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb * 1024
		}
	}
	return 0
}

// wantCommits checks the current remote's history length: the seed
// commit and one of dockhand's.
func (rb *runBench) wantCommits(b *testing.B, n int) {
	b.Helper()
	commits, err := rb.git.Log(b.Context(), fmt.Sprintf("fleet-%d", rb.repos), "main")
	if err != nil || len(commits) != n {
		b.Fatalf("fleet-%d has %d commits (%v), want %d", rb.repos, len(commits), err, n)
	}
	last := benchRepositories - 1
	content, err := rb.git.ReadFile(b.Context(), fmt.Sprintf("fleet-%d", rb.repos), "main", gitserver.LargeRepoPath(last))
	want := fmt.Sprintf("/apps/app-%05d:1.0.%d", last, benchTagsEach-1)
	if err != nil || !bytes.Contains(content, []byte(want)) {
		b.Fatalf("the last marked file lacks %q (%v):\n%s", want, err, content)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func reportRun(b *testing.B, walls []time.Duration, rss []int64, cpus []time.Duration) {
	var total, cpu time.Duration
	for _, c := range cpus {
		cpu += c
	}
	var peak int64
	for i := range walls {
		total += walls[i]
		peak = max(peak, rss[i])
	}
	b.Logf("wall %v, cpu %v, peak RSS %v MiB", walls, cpus, func() []int64 {
		var m []int64
		for _, r := range rss {
			m = append(m, r>>20)
		}
		return m
	}())
	b.ReportMetric(total.Seconds()/float64(len(walls)), "s/run")
	b.ReportMetric(cpu.Seconds()/float64(len(walls)), "cpu-s/run")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// BenchmarkRunOnce measures dockhand run --once as a process: cold (no
// state, no clone) and warm (nothing new since the last run).
func BenchmarkRunOnce(b *testing.B) {
	rb := newRunBench(b)
	b.Run("cold", func(b *testing.B) {
		var walls, cpus []time.Duration
		var rss []int64
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			rb.freshRemote(b)
			state := filepath.Join(rb.dir, fmt.Sprintf("cold-%d", i), "state.db")
			b.StartTimer()
			wall, peak, cpu := rb.run(b, state)
			walls, rss, cpus = append(walls, wall), append(rss, peak), append(cpus, cpu)
			b.StopTimer()
			rb.wantCommits(b, 2)
			b.StartTimer()
		}
		reportRun(b, walls, rss, cpus)
	})
	b.Run("warm", func(b *testing.B) {
		rb.freshRemote(b)
		state := filepath.Join(rb.dir, "warm", "state.db")
		rb.run(b, state)
		rb.wantCommits(b, 2)
		var walls, cpus []time.Duration
		var rss []int64
		for b.Loop() {
			wall, peak, cpu := rb.run(b, state)
			walls, rss, cpus = append(walls, wall), append(rss, peak), append(cpus, cpu)
		}
		rb.wantCommits(b, 2)
		reportRun(b, walls, rss, cpus)
	})
}
