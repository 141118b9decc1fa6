package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseControllerFlags returns the options the controller command's flags
// produce, without running anything.
func parseControllerFlags(t *testing.T, args ...string) controllerOptions {
	t.Helper()
	var got controllerOptions
	cmd := controllerCmd(func(_ context.Context, _ io.Writer, o controllerOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("dockhand controller %s: %v", strings.Join(args, " "), err)
	}
	return got
}

func TestControllerFlagsMapOntoOptions(t *testing.T) {
	opts := parseControllerFlags(t,
		"--concurrent=8", "--watch-namespace=a,b", "--watch-label-selector=shard=one",
		"--metrics-addr=:9000", "--health-addr=", "--enable-leader-election",
		"--leader-election-namespace=sys", "--no-cross-namespace-refs",
		"--default-service-account=puller", "--graceful-shutdown-timeout=5s")
	mo, err := controllerManagerOptions(opts)
	if err != nil {
		t.Fatalf("controllerManagerOptions: %v", err)
	}
	if mo.Concurrent != 8 || strings.Join(mo.WatchNamespaces, ",") != "a,b" ||
		mo.MetricsBindAddress != ":9000" || mo.HealthProbeBindAddress != "" ||
		!mo.LeaderElection || mo.LeaderElectionNamespace != "sys" || mo.GracefulShutdownTimeout != 5*time.Second {
		t.Errorf("controllerManagerOptions(...) = %+v", mo)
	}
	if mo.WatchLabelSelector == nil || mo.WatchLabelSelector.String() != "shard=one" {
		t.Errorf("label selector = %v, want shard=one", mo.WatchLabelSelector)
	}
	if !opts.noCrossNamespaceRefs || opts.defaultServiceAccount != "puller" {
		t.Errorf("multi-tenancy flags = %v, %q", opts.noCrossNamespaceRefs, opts.defaultServiceAccount)
	}
}

func TestControllerFlagDefaults(t *testing.T) {
	opts := parseControllerFlags(t)
	mo, err := controllerManagerOptions(opts)
	if err != nil {
		t.Fatalf("controllerManagerOptions: %v", err)
	}
	if mo.Concurrent != 4 || mo.MetricsBindAddress != ":8080" || mo.HealthProbeBindAddress != ":9440" ||
		mo.LeaderElection || mo.WatchNamespaces != nil || mo.WatchLabelSelector != nil {
		t.Errorf("defaults = %+v", mo)
	}
	if opts.storagePath != "/data/tags.db" || opts.logEncoding != "json" || opts.logLevel != "info" {
		t.Errorf("defaults = %+v", opts)
	}
}

func TestControllerBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--concurrent=0"}, "--concurrent"},
		{[]string{"--watch-label-selector=a in (b"}, "--watch-label-selector"},
		{[]string{"--requeue-dependency=0s"}, "--requeue-dependency"},
		{[]string{"--log-level=loud"}, "--log-level"},
		{[]string{"--log-encoding=xml"}, "--log-encoding"},
		{[]string{"--storage-path="}, "--storage-path"},
		{[]string{"--kube-api-qps=-3"}, "--kube-api-qps"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			cmd := newControllerCmd()
			cmd.SetArgs(append([]string{"--kubeconfig=" + filepath.Join(t.TempDir(), "none")}, tc.args...))
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			err := cmd.ExecuteContext(t.Context())
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitControllerUsage || !strings.Contains(ee.msg, tc.want) {
				t.Errorf("dockhand controller %s: err = %v, want exit %d naming %s", strings.Join(tc.args, " "), err, exitControllerUsage, tc.want)
			}
		})
	}
}

func TestControllerLogger(t *testing.T) {
	var out bytes.Buffer
	log, err := controllerLogger(&out, "debug", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.V(1).Info("visible at debug", "key", "value")
	log.V(2).Info("hidden at debug")
	if got := out.String(); !strings.Contains(got, `"msg":"visible at debug"`) || !strings.Contains(got, `"key":"value"`) || strings.Contains(got, "hidden") {
		t.Errorf("debug JSON log = %q", got)
	}
}

func TestAPIRateLimits(t *testing.T) {
	for _, tc := range []struct {
		qps       float32
		burst     int
		wantQPS   float32
		wantBurst int
	}{
		{0, 0, -1, 0},
		{50, 0, 50, 100},
		{50, 300, 50, 300},
		{0.2, 0, 0.2, 1},
	} {
		if q, b := apiRateLimits(tc.qps, tc.burst); q != tc.wantQPS || b != tc.wantBurst {
			t.Errorf("apiRateLimits(%v, %d) = %v, %d, want %v, %d", tc.qps, tc.burst, q, b, tc.wantQPS, tc.wantBurst)
		}
	}
}
