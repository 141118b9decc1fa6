package controller

import (
	"errors"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/scanner"
)

// Metrics are dockhand's Prometheus metrics, besides the ones
// controller-runtime exports for every controller (reconcile counts,
// errors and durations: controller_runtime_reconcile_*, workqueue_*).
// A nil *Metrics records nothing.
//
//   - dockhand_scan_duration_seconds{host,result}: histogram of the
//     reconciles of an ImageRepository that scanned its registry; result is
//     "success" or "failure".
//   - dockhand_scans_total{host,code}: scans by registry host and outcome:
//     "200" for success, else the HTTP status of the failing response, or
//     "error" when there was none (network, TLS, timeout).
//   - dockhand_registry_requests_total{host,code}: every HTTP request to a
//     registry (pings, tokens, pages, digests, retries) by status code, 0
//     when no response came.
//   - dockhand_repository_tags{namespace,name}: tags stored by the last
//     scan of each ImageRepository.
//   - dockhand_automation_runs_total{outcome}: automation runs by outcome
//     ("Pushed", "NoChange", "Failed"), from status.history.
//   - dockhand_pull_requests_total{provider,result}: pull requests opened or
//     updated ("success") or failed ("failure").
//   - dockhand_ready{kind,namespace,name}: the Ready condition of every
//     object, 1 for True, 0 for False, -1 for Unknown.
type Metrics struct {
	scanDuration *prometheus.HistogramVec
	scans        *prometheus.CounterVec
	tags         *prometheus.GaugeVec
	runs         *prometheus.CounterVec
	requests     *prometheus.CounterVec
	pullRequests *prometheus.CounterVec
	ready        *prometheus.GaugeVec
}

// NewMetrics makes the metrics and registers them with reg (the manager
// uses controller-runtime's metrics.Registry, which its metrics server
// serves).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		scanDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dockhand_scan_duration_seconds",
			Help:    "Duration of ImageRepository reconciles that scanned the registry.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"host", "result"}),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dockhand_scans_total",
			Help: "Registry scans by host and HTTP status (200 on success; error when no response).",
		}, []string{"host", "code"}),
		tags: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dockhand_repository_tags",
			Help: "Tags stored by the last scan of an ImageRepository.",
		}, []string{"namespace", "name"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dockhand_registry_requests_total",
			Help: "HTTP requests to registries (token requests and retries included) by host and status code; 0 when no response came.",
		}, []string{"host", "code"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dockhand_automation_runs_total",
			Help: "ImageUpdateAutomation runs by outcome.",
		}, []string{"outcome"}),
		pullRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dockhand_pull_requests_total",
			Help: "Pull requests opened or updated, by provider and result.",
		}, []string{"provider", "result"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dockhand_ready",
			Help: "Ready condition of each object: 1 True, 0 False, -1 Unknown.",
		}, []string{"kind", "namespace", "name"}),
	}
	for _, c := range []prometheus.Collector{m.scanDuration, m.scans, m.tags, m.requests, m.runs, m.pullRequests, m.ready} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ObserveRegistryRequest counts one HTTP request to a registry; it is the
// scanner's RequestObserver (scanner.WithRequestObserver).
func (m *Metrics) ObserveRegistryRequest(host string, code int) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(host, strconv.Itoa(code)).Inc()
}

// observeScan records a reconcile of an ImageRepository that scanned (or
// tried to): its status has a new scan time, or the step failed for a
// reason other than an invalid spec.
func (m *Metrics) observeScan(before, after *imagev1.ImageRepository, out engine.Outcome, seconds float64) {
	if m == nil {
		return
	}
	scanned := after.Status.LastScanResult != nil &&
		(before.Status.LastScanResult == nil || !before.Status.LastScanResult.ScanTime.Equal(&after.Status.LastScanResult.ScanTime))
	var serr *scanner.Error
	failed := out.Err != nil && errors.As(out.Err, &serr)
	switch {
	case scanned && out.Err == nil:
		host := registryHost(after.Status.CanonicalImageName)
		m.scanDuration.WithLabelValues(host, "success").Observe(seconds)
		m.scans.WithLabelValues(host, "200").Inc()
		m.tags.WithLabelValues(after.Namespace, after.Name).Set(float64(after.Status.LastScanResult.TagCount))
	case failed:
		host := serr.Host
		if host == "" {
			host = registryHost(after.Spec.Image)
		}
		code := "error"
		if serr.StatusCode != 0 {
			code = strconv.Itoa(serr.StatusCode)
		}
		m.scanDuration.WithLabelValues(host, "failure").Observe(seconds)
		m.scans.WithLabelValues(host, code).Inc()
	}
}

// observeRun records a new entry in an automation's history.
func (m *Metrics) observeRun(before, after *imagev1.ImageUpdateAutomation) {
	if m == nil || len(after.Status.History) == 0 {
		return
	}
	run := after.Status.History[0]
	if len(before.Status.History) > 0 && before.Status.History[0].Time.Equal(&run.Time) && before.Status.History[0].Outcome == run.Outcome {
		return
	}
	m.runs.WithLabelValues(string(run.Outcome)).Inc()
	pr := after.Spec.GitSpec
	if pr == nil || pr.PullRequest == nil {
		return
	}
	provider := string(pr.PullRequest.Provider)
	switch _, reason := ready(after); {
	case reason == imagev1.PullRequestFailedReason:
		m.pullRequests.WithLabelValues(provider, "failure").Inc()
	case run.Outcome == imagev1.RunPushed:
		m.pullRequests.WithLabelValues(provider, "success").Inc()
	}
}

// observeReady sets the dockhand_ready gauge of obj.
func (m *Metrics) observeReady(obj object) {
	if m == nil {
		return
	}
	v := -1.0
	switch status, _ := ready(obj); status {
	case metav1.ConditionTrue:
		v = 1
	case metav1.ConditionFalse:
		v = 0
	}
	m.ready.WithLabelValues(kindName(obj), obj.GetNamespace(), obj.GetName()).Set(v)
}

// forget drops the per-object series of a deleted object.
func (m *Metrics) forget(kind string, key types.NamespacedName) {
	if m == nil {
		return
	}
	m.ready.DeleteLabelValues(kind, key.Namespace, key.Name)
	if kind == imagev1.ImageRepositoryKind {
		m.tags.DeleteLabelValues(key.Namespace, key.Name)
	}
}

func kindName(obj object) string {
	switch obj.(type) {
	case *imagev1.ImageRepository:
		return imagev1.ImageRepositoryKind
	case *imagev1.ImagePolicy:
		return imagev1.ImagePolicyKind
	case *imagev1.ImageUpdateAutomation:
		return imagev1.ImageUpdateAutomationKind
	}
	return obj.GetObjectKind().GroupVersionKind().Kind
}

// registryHost is the registry part of an image name ("docker.io" for
// names without one).
func registryHost(image string) string {
	first, _, found := strings.Cut(image, "/")
	if !found || !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io"
	}
	return first
}
