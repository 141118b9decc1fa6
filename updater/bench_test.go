package updater

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// benchManifest is a small Deployment, about 700 bytes, like most files in
// a GitOps repository.
const benchManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
  namespace: apps
  labels:
    app.kubernetes.io/name: app-%[1]d
    app.kubernetes.io/part-of: bench
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app-%[1]d
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-%[1]d
    spec:
      containers:
      - name: app
        image: ghcr.io/org/app-%[1]d:1.0.0%[2]s
        ports:
        - containerPort: 8080
          name: http
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
`

// benchMarker marks the image of app N with its own policy, apps:app-N,
// as in a repository with one policy per application.
const benchMarker = ` # {"$imagepolicy": "apps:app-%d"}`

func benchFile(i int, marked bool) []byte {
	marker := ""
	if marked {
		marker = fmt.Sprintf(benchMarker, i)
	}
	return fmt.Appendf(nil, benchManifest, i, marker)
}

func benchPath(i int) string {
	return fmt.Sprintf("team-%02d/app-%04d/deploy-%d.yaml", i/5000, i/100, i)
}

// benchTree writes files manifests, every 100/percent-th one marked, in
// directories of 100 files two levels deep, and returns the numbers of the
// marked files.
func benchTree(tb testing.TB, dir string, files, percent int) []int {
	tb.Helper()
	var marked []int
	every := 100 / percent
	for i := range files {
		full := filepath.Join(dir, filepath.FromSlash(benchPath(i)))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		if i%every == 0 {
			marked = append(marked, i)
		}
		if err := os.WriteFile(full, benchFile(i, i%every == 0), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return marked
}

// benchPolicies returns a policy for each marked file, at the tag its
// file holds.
func benchPolicies(marked []int) map[string]Ref {
	p := make(map[string]Ref, len(marked))
	for _, i := range marked {
		p["apps/app-"+strconv.Itoa(i)] = Ref{Name: "ghcr.io/org/app-" + strconv.Itoa(i), Tag: "1.0.0"}
	}
	return p
}

// flip moves the policies of the given files to the other tag.
func flip(p map[string]Ref, files []int) {
	for _, i := range files {
		key := "apps/app-" + strconv.Itoa(i)
		r := p[key]
		if r.Tag == "1.0.0" {
			r.Tag = "1.0.1"
		} else {
			r.Tag = "1.0.0"
		}
		p[key] = r
	}
}

// reportCPU adds cpu-ns/op: the CPU time of the process (every core, user
// and system) per operation since start. On a machine shared with other
// work it shows the work done, which wall time mixes with waits for a core.
func reportCPU(b *testing.B, start time.Duration) {
	if cpu := processCPUTime() - start; cpu > 0 && b.N > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkApply is a cold run (no index) over files small manifests with
// marked% of them marked, each with a policy of its own. Every marked file
// is parsed on every run. The last part of the name says how many of the
// marked values change on each run, and so how many files are rewritten,
// verified and written: none (the steady state of a controller polling a
// repository), 10 (a few policies moved), or all.
func BenchmarkApply(b *testing.B) {
	for _, files := range []int{1000, 10000, 50000} {
		for _, pct := range []int{1, 10} {
			b.Run(fmt.Sprintf("%d/%d%%", files, pct), func(b *testing.B) {
				dir := b.TempDir()
				marked := benchTree(b, dir, files, pct)
				for _, mode := range []string{"none", "10", "all"} {
					b.Run(mode, func(b *testing.B) {
						policies := benchPolicies(marked)
						// Bring the files to the policies' tags.
						if _, err := Apply(b.Context(), dir, policies); err != nil {
							b.Fatal(err)
						}
						want := map[string]int{"none": 0, "10": 10, "all": len(marked)}[mode]
						b.ReportAllocs()
						b.ResetTimer()
						cpu := processCPUTime()
						run := 0
						for b.Loop() {
							switch mode {
							case "10":
								var moved []int
								for k := range 10 {
									moved = append(moved, marked[(run*10+k)%len(marked)])
								}
								flip(policies, moved)
							case "all":
								flip(policies, marked)
							}
							res, err := Apply(b.Context(), dir, policies)
							if err != nil {
								b.Fatal(err)
							}
							if res.Stats.Written != want {
								b.Fatalf("run %d wrote %d files, want %d", run, res.Stats.Written, want)
							}
							run++
						}
						reportCPU(b, cpu)
					})
				}
			})
		}
	}
}

// BenchmarkApplyWarm is a warm run over a 50,000-file tree with 10% of
// the files marked, after 10 files changed since the last run (5 of them
// marked, whose values the run rewrites); the index comes from a cold run.
// Changing the 10 files (what a git pull does) is outside the timer.
func BenchmarkApplyWarm(b *testing.B) {
	const files = 50000
	dir := b.TempDir()
	marked := benchTree(b, dir, files, 10)
	ix := NewIndex()
	policies := benchPolicies(marked)
	if _, err := Apply(b.Context(), dir, policies, WithIndex(ix)); err != nil {
		b.Fatal(err)
	}
	var changed []string
	var changedNums []int
	for i := range 5 {
		changedNums = append(changedNums, marked[i*len(marked)/5], i*files/5+1)
	}
	for _, i := range changedNums {
		changed = append(changed, benchPath(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		n++
		// A commit arrives that edits the 10 files and puts the
		// marked ones back at 1.0.0-rc.N, which the run sets to 1.0.0.
		for _, i := range changedNums {
			content := benchFile(i, i%10 == 0)
			content = bytes.Replace(content, []byte(":1.0.0"), fmt.Appendf(nil, ":1.0.0-rc.%d", n), 1)
			if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(benchPath(i))), content, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := processCPUTime()
		res, err := Apply(b.Context(), dir, policies, WithIndex(ix), WithChangedPaths(changed))
		cpu += processCPUTime() - start
		if err != nil {
			b.Fatal(err)
		}
		if res.Stats.Read != len(changed) || res.Stats.Written != 5 {
			b.Fatalf("warm run read %d and wrote %d files, want %d and 5", res.Stats.Read, res.Stats.Written, len(changed))
		}
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkIndex measures persisting and loading the index of a
// 50,000-file tree.
func BenchmarkIndex(b *testing.B) {
	ix := NewIndex()
	for i := range 50000 {
		e := IndexEntry{BlobHash: BlobHash([]byte(strconv.Itoa(i)))}
		if i%10 == 0 {
			e.HasMarkers, e.Policies = true, []string{"apps/app"}
		}
		ix.Set(fmt.Sprintf("team-%02d/app-%04d/deploy-%d.yaml", i/5000, i/100, i), e)
	}
	data, _ := ix.MarshalBinary()
	b.Run("MarshalBinary", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := ix.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UnmarshalBinary", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var x Index
			if err := x.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestColdRunPeakRSS is a tool for measuring the peak RSS of a cold run
// over a 50,000-file tree with 10% marked, run by hand under
// /usr/bin/time -v (see docs/benchmarks.md). The first run with
// UPDATER_RSS_TREE=DIR writes the tree to DIR and stops; later runs make
// one cold run over it. UPDATER_RSS_MODE=all moves every policy to a new
// tag, so that every marked file is rewritten; the default changes none.
func TestColdRunPeakRSS(t *testing.T) {
	dir := os.Getenv("UPDATER_RSS_TREE")
	if dir == "" {
		t.Skip("set UPDATER_RSS_TREE to measure the peak RSS of a cold run (docs/benchmarks.md)")
	}
	const files, pct = 50000, 10
	var marked []int
	for i := 0; i < files; i += 100 / pct {
		marked = append(marked, i)
	}
	if _, err := os.Stat(filepath.Join(dir, "team-00")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		benchTree(t, dir, files, pct)
		t.Logf("wrote %d files under %s; run again to measure", files, dir)
		return
	}
	policies := benchPolicies(marked)
	want := 0
	if os.Getenv("UPDATER_RSS_MODE") == "all" {
		tag := "1.0." + strconv.FormatInt(time.Now().UnixNano(), 10)
		for k, r := range policies {
			r.Tag = tag
			policies[k] = r
		}
		want = len(marked)
	}
	res, err := Apply(t.Context(), dir, policies)
	if err != nil {
		t.Fatal(err)
	}
	if want > 0 && res.Stats.Written != want {
		t.Errorf("wrote %d files, want %d", res.Stats.Written, want)
	}
	t.Logf("stats %+v", res.Stats)
}

// BenchmarkWrite compares the atomic replacement Apply does (temporary
// file, rename) with an in-place os.WriteFile, for one small file: the
// cost that dominates runs that rewrite many files.
func BenchmarkWrite(b *testing.B) {
	name := filepath.Join(b.TempDir(), "deploy.yaml")
	content := benchFile(1, true)
	if err := os.WriteFile(name, content, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("atomic", func(b *testing.B) {
		cpu := processCPUTime()
		for b.Loop() {
			if err := writeAtomic(name, content); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
	b.Run("in-place", func(b *testing.B) {
		cpu := processCPUTime()
		for b.Loop() {
			if err := os.WriteFile(name, content, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
}
