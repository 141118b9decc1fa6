package controller

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/internal/engine"
)

// metricValue finds the sample of metric name whose labels include want.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

func TestMetrics(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	p := newPipeline(t, ns)
	h := startController(t, []string{ns})
	p.createAll(t)
	p.waitForLatest(t, "1.0.0")
	p.reg.PushTags(t, "team/app", "1.1.0")
	setRequest(t, p.repo, "again")
	p.waitForFile(t, "1.1.0")
	waitReady(t, p.auto, metav1.ConditionTrue, imagev1.SucceededReason)

	host := p.reg.Host()
	eventually(t, "metrics", func() error {
		checks := []struct {
			name   string
			labels map[string]string
			min    float64
		}{
			{"dockhand_scans_total", map[string]string{"host": host, "code": "200"}, 2},
			{"dockhand_scan_duration_seconds", map[string]string{"host": host, "result": "success"}, 2},
			{"dockhand_repository_tags", map[string]string{"namespace": ns, "name": "app"}, 2},
			{"dockhand_automation_runs_total", map[string]string{"outcome": string(imagev1.RunPushed)}, 1},
			{"dockhand_ready", map[string]string{"kind": imagev1.ImageUpdateAutomationKind, "namespace": ns, "name": "fleet"}, 1},
			{"dockhand_ready", map[string]string{"kind": imagev1.ImagePolicyKind, "namespace": ns, "name": "app"}, 1},
		}
		for _, c := range checks {
			v, ok := metricValue(t, h.reg, c.name, c.labels)
			if !ok || v < c.min {
				return fmt.Errorf("%s%v = %v (found %v), want at least %v", c.name, c.labels, v, ok, c.min)
			}
		}
		return nil
	})

	// Deleting an object drops its series.
	if err := testEnv.Client.Delete(t.Context(), p.pol); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted policy's series is gone", func() error {
		if _, ok := metricValue(t, h.reg, "dockhand_ready", map[string]string{"kind": imagev1.ImagePolicyKind, "namespace": ns, "name": "app"}); ok {
			return fmt.Errorf("dockhand_ready still has the policy")
		}
		return nil
	})
}

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func TestMetricsServerAndProbes(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	startController(t, []string{ns}, func(_ *engine.Options, o *Options) {
		o.MetricsBindAddress, o.HealthProbeBindAddress = metricsAddr, probeAddr
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		eventually(t, path, func() error {
			code, body, err := httpGet("http://" + probeAddr + path)
			if err != nil {
				return err
			}
			if code != http.StatusOK {
				return fmt.Errorf("GET %s = %d %s", path, code, body)
			}
			return nil
		})
	}
	eventually(t, "/metrics", func() error {
		code, body, err := httpGet("http://" + metricsAddr + "/metrics")
		if err != nil {
			return err
		}
		if code != http.StatusOK || !strings.Contains(body, `controller_runtime_reconcile_total{controller="imagerepository"`) {
			return fmt.Errorf("GET /metrics = %d without controller-runtime's reconcile counters", code)
		}
		return nil
	})
}

// TestLeaderElectionHandsOver: of two replicas, one leads; when it stops,
// the other takes over.
func TestLeaderElectionHandsOver(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	elect := func(_ *engine.Options, o *Options) {
		o.LeaderElection, o.LeaderElectionNamespace, o.LeaderElectionID = true, ns, "dockhand-test"
	}
	first := startController(t, []string{ns}, elect)
	repo := newRepository(ns, "first", reg.Repo("team/app"))
	create(t, repo)
	waitReady(t, repo, metav1.ConditionTrue, imagev1.SucceededReason)
	second := startController(t, []string{ns}, elect)

	first.stop() // releases the Lease on the way out
	repo2 := newRepository(ns, "second", reg.Repo("team/app"))
	create(t, repo2)
	waitReady(t, repo2, metav1.ConditionTrue, imagev1.SucceededReason)
	if _, ok, err := second.tags.Result(ns + "/second"); err != nil || !ok {
		t.Errorf("the second replica did not scan after the first stopped (ok=%v, err=%v)", ok, err)
	}
}

// TestWatchLabelSelector: a sharded controller leaves other shards'
// objects alone.
func TestWatchLabelSelector(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	startController(t, []string{ns}, func(_ *engine.Options, o *Options) {
		o.WatchLabelSelector = labels.SelectorFromSet(labels.Set{"shard": "a"})
	})

	other := newRepository(ns, "other", reg.Repo("team/app"))
	other.Labels = map[string]string{"shard": "b"}
	create(t, other)
	mine := newRepository(ns, "mine", reg.Repo("team/app"))
	mine.Labels = map[string]string{"shard": "a"}
	create(t, mine)
	waitReady(t, mine, metav1.ConditionTrue, imagev1.SucceededReason)
	if err := fetch(t, other); err != nil {
		t.Fatal(err)
	}
	if len(other.Status.Conditions) != 0 || len(other.Finalizers) != 0 {
		t.Errorf("another shard's repository was reconciled: %+v, finalizers %v", other.Status, other.Finalizers)
	}
}

// TestDefaultServiceAccount: with the lockdown flag, a repository without
// spec.serviceAccountName uses the default service account's pull secrets.
func TestDefaultServiceAccount(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	reg := registry.Start(t, registry.WithBasicAuth("ci", "s3cret"))
	reg.PushTags(t, "team/app", "1.0.0")
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pull"},
		Type:       corev1.SecretTypeDockerConfigJson,
		StringData: map[string]string{corev1.DockerConfigJsonKey: fmt.Sprintf(`{"auths":{%q:{"username":"ci","password":"s3cret"}}}`, reg.Host())},
	})
	create(t, &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Namespace: ns, Name: "puller"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}},
	})
	startController(t, []string{ns}, func(e *engine.Options, _ *Options) { e.DefaultServiceAccount = "puller" })

	repo := newRepository(ns, "app", reg.Repo("team/app"))
	create(t, repo)
	waitReady(t, repo, metav1.ConditionTrue, imagev1.SucceededReason)
}
