package controller

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// runScale creates n ImageRepositories (each its own registry repository
// with three tags) and n ImagePolicies for a separate `dockhand
// controller` process, and reports how long until every policy is Ready and
// the process's peak RSS.
func runScale(t *testing.T, n int) {
	ns := testEnv.Namespace(t)
	reg := registry.Start(t)
	repoName := func(i int) string { return fmt.Sprintf("scale/app-%04d", i) }

	start := time.Now()
	parallel(t, n, 8, func(ctx context.Context, i int) error {
		_, err := reg.WriteImage(ctx, repoName(i), "1.0.0", "1.1.0", "2.0.0")
		return err
	})
	t.Logf("pushed %d registry repositories in %s", n, time.Since(start).Round(time.Millisecond))

	concurrent := os.Getenv("DOCKHAND_SCALE_CONCURRENT")
	if concurrent == "" {
		concurrent = "4"
	}
	proc := startBinary(t, []string{ns}, "--metrics-addr", "", "--concurrent", concurrent)
	idleRSS := proc.peakRSS(t)

	// A client of our own without client-side rate limits, so creating the
	// objects is not what is measured.
	cfg := rest.CopyConfig(testEnv.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: testEnv.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	parallel(t, n, 8, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("app-%04d", i)
		if err := c.Create(ctx, newRepository(ns, name, reg.Repo(repoName(i)))); err != nil {
			return err
		}
		return c.Create(ctx, newPolicy(ns, name, name, withSemver("1.x")))
	})
	createdIn := time.Since(created)

	var reposReady, policiesReady time.Duration
	deadline := time.Now().Add(5 * time.Minute)
	for policiesReady == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not every policy Ready after 5 minutes")
		}
		time.Sleep(250 * time.Millisecond)
		if reposReady == 0 && countReady(t, c, ns, &imagev1.ImageRepositoryList{}) == n {
			reposReady = time.Since(created)
		}
		if countReady(t, c, ns, &imagev1.ImagePolicyList{}) == n {
			policiesReady = time.Since(created)
			if reposReady == 0 {
				reposReady = policiesReady
			}
		}
	}
	peak := proc.peakRSS(t)
	if err := proc.terminate(t); err != nil {
		t.Errorf("dockhand controller exited with %v after SIGTERM", err)
	}

	var pols imagev1.ImagePolicyList
	if err := c.List(t.Context(), &pols, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pols.Items {
		if p.Status.LatestRef == nil || p.Status.LatestRef.Tag != "1.1.0" {
			t.Fatalf("policy %s latestRef = %v, want 1.1.0", p.Name, p.Status.LatestRef)
		}
	}
	t.Logf("n=%d concurrent=%s GOMAXPROCS=%d: objects created in %s; all ImageRepositories Ready %s and all ImagePolicies Ready %s after the first create; manager peak RSS %.1f MiB (%.1f MiB before the objects)",
		n, concurrent, runtime.GOMAXPROCS(0), createdIn.Round(time.Millisecond), reposReady.Round(time.Millisecond), policiesReady.Round(time.Millisecond),
		float64(peak)/(1<<20), float64(idleRSS)/(1<<20))
	if policiesReady > time.Minute {
		t.Errorf("all policies Ready after %s, target 60s", policiesReady)
	}
	if peak > 150<<20 {
		t.Errorf("manager peak RSS %d MiB, target 150 MiB", peak>>20)
	}
}

// countReady lists the objects of a namespace and counts those Ready.
func countReady(t *testing.T, c client.Client, ns string, list client.ObjectList) int {
	t.Helper()
	if err := c.List(t.Context(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, it := range items {
		if o, ok := it.(object); ok && meta.IsStatusConditionTrue(o.GetConditions(), imagev1.ReadyCondition) {
			ready++
		}
	}
	return ready
}

// parallel runs f for 0..n-1 on workers goroutines, failing the test on
// the first error.
func parallel(t *testing.T, n, workers int, f func(context.Context, int) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxDeadline(t, 10*time.Minute))
	defer cancel()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = fmt.Errorf("item %s: %w", strconv.Itoa(i), err); cancel() })
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}
