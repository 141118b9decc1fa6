package scanner

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// The benchmarks run against the fixtures registry over loopback TCP with
// the Scanner's default limiter and retry settings; only the clock is real.
// Run them with:
//
//	go test ./scanner -run '^$' -bench . -benchtime 1x -count 5

// BenchmarkListTags10k scans one repository of 10,000 tags with a new
// Scanner each time (so every scan pings and starts with a fresh default
// limiter), at page sizes 100 (100 pages) and 1000 (10 pages). The
// registry runs in a child process, so B/op and heldB are the scanner's
// alone.
func BenchmarkListTags10k(b *testing.B) {
	host := registryProcess(b, "big/app-", 1, 10_000)
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("page=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			var held int64
			for b.Loop() {
				s, err := New(WithPageSize(size))
				if err != nil {
					b.Fatal(err)
				}
				before := heapLive()
				got, err := s.ListTags(context.Background(), Target{Image: host + "/big/app-0", Insecure: true})
				if err != nil {
					b.Fatal(err)
				}
				if len(got.Tags) != 10_000 {
					b.Fatalf("got %d tags, want 10000", len(got.Tags))
				}
				held = int64(heapLive()) - int64(before)
				runtime.KeepAlive(got)
				s.Close()
			}
			b.ReportMetric(float64(held), "heldB/10k-tags")
		})
	}
}

// BenchmarkThousandRepositories scans 1,000 repositories of 100 tags each
// on one registry host, 64 at a time, through one Scanner and so one
// default HostLimiter (16 requests in flight, 200 per second).
func BenchmarkThousandRepositories(b *testing.B) {
	const repos = 1000
	host := registryProcess(b, "fleet/app-", repos, 100)
	for b.Loop() {
		s, err := New()
		if err != nil {
			b.Fatal(err)
		}
		scanAll(b, repos, 64, func(i int) {
			got, err := s.ListTags(context.Background(), Target{Image: fmt.Sprintf("%s/fleet/app-%d", host, i), Insecure: true})
			if err != nil {
				b.Error(err)
				return
			}
			if len(got.Tags) != 100 {
				b.Errorf("repository %d: %d tags, want 100", i, len(got.Tags))
			}
		})
		b.ReportMetric(float64(s.HostLimiter().Requests(host)), "requests/op")
		s.Close()
	}
}

// BenchmarkStoreMillionTags scans 1,000 times, 32 at a time, and stores
// each result under its own key, so the TagStore ends up holding 1,000,000
// tags across 1,000 keys. To keep the fixture's setup short the scans read
// ten repositories of 1,000 tags each (key i scans repository i%10); the
// scanning and storing work is the same as for 1,000 distinct
// repositories. The registry runs in a child process, so the heap measured
// is the scanner's and the store's alone: the peak of the heap in use
// (live and not yet collected objects), sampled every 5ms while scanning
// and storing.
func BenchmarkStoreMillionTags(b *testing.B) {
	host := registryProcess(b, "store/app-", 10, 1000)
	for b.Loop() {
		store, err := OpenTagStore(filepath.Join(b.TempDir(), "tags.db"))
		if err != nil {
			b.Fatal(err)
		}
		s, err := New()
		if err != nil {
			b.Fatal(err)
		}
		base := heapLive()
		peak := samplePeakHeap()
		scanAll(b, 1000, 32, func(i int) {
			got, err := s.ListTags(context.Background(), Target{Image: fmt.Sprintf("%s/store/app-%d", host, i%10), Insecure: true})
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := store.Put(fmt.Sprintf("ns-%04d/repo", i), got.Tags, time.Now()); err != nil {
				b.Error(err)
			}
		})
		b.ReportMetric(float64(peak()), "peak-heap-B")
		b.ReportMetric(float64(base), "base-heap-B")
		keys, _ := store.Keys()
		if len(keys) != 1000 {
			b.Fatalf("store holds %d keys, want 1000", len(keys))
		}
		s.Close()
		_ = store.Close()
	}
}

// registryProcesses are the registries started by registryProcess, one
// per spec, kept for the life of the test binary: pushing 100,000 tags
// takes minutes, too long to repeat for every -count.
var registryProcesses = struct {
	sync.Mutex
	hosts  map[string]string
	stdins []io.WriteCloser // held so no finalizer closes them: the children exit on EOF
}{hosts: map[string]string{}}

// registryProcess runs the fixtures registry in a child process (this test
// binary, running TestHelperRegistryProcess) holding repos repositories
// named prefix0, prefix1, ... with tags tags each, and returns its host.
// The child exits when this process does (its stdin closes).
func registryProcess(b *testing.B, prefix string, repos, tags int) string {
	b.Helper()
	spec := fmt.Sprintf("%s,%d,%d", prefix, repos, tags)
	registryProcesses.Lock()
	defer registryProcesses.Unlock()
	if host, ok := registryProcesses.hosts[spec]; ok {
		return host
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRegistryProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DOCKHAND_HELPER_REGISTRY="+spec)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // never closed: the child lives as long as we do
	if err != nil {
		b.Fatal(err)
	}
	registryProcesses.stdins = append(registryProcesses.stdins, stdin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if host, ok := strings.CutPrefix(sc.Text(), "REGISTRY "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			registryProcesses.hosts[spec] = host
			return host
		}
	}
	_ = cmd.Wait()
	b.Fatalf("the registry process exited without announcing its host: %v", sc.Err())
	return ""
}

// TestHelperRegistryProcess is the child of registryProcess; in a normal
// test run it does nothing.
func TestHelperRegistryProcess(t *testing.T) {
	spec := os.Getenv("DOCKHAND_HELPER_REGISTRY")
	if spec == "" {
		return
	}
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		t.Fatalf("DOCKHAND_HELPER_REGISTRY=%q: want prefix,repos,tags", spec)
	}
	var repos, tags int
	if _, err := fmt.Sscanf(parts[1]+" "+parts[2], "%d %d", &repos, &tags); err != nil {
		t.Fatalf("DOCKHAND_HELPER_REGISTRY=%q: %v", spec, err)
	}
	reg := registry.Start(t)
	names := tagNames("v", tags)
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, repos)
	for range 8 {
		wg.Go(func() {
			for r := int(next.Add(1)) - 1; r < repos; r = int(next.Add(1)) - 1 {
				if _, err := reg.WriteImage(t.Context(), fmt.Sprintf("%s%d", parts[0], r), names...); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("pushing: %v", err)
	}
	fmt.Printf("REGISTRY %s\n", reg.Host())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func scanAll(b *testing.B, n, workers int, scan func(i int)) {
	b.Helper()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				scan(i)
			}
		})
	}
	wg.Wait()
}

// heapLive returns the bytes of live heap objects after a collection.
func heapLive() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// samplePeakHeap samples the heap in use (the runtime's
// /memory/classes/heap/objects:bytes, what is held by live and not yet
// collected objects) every 5ms until the returned function is called,
// which returns the peak.
func samplePeakHeap() func() uint64 {
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-done
	}
}
