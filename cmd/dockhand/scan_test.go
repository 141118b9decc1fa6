package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/scanner"
)

// runScanCmd executes the scan command with args and returns its output
// and error.
func runScanCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	// Never read the developer's own docker config.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var out bytes.Buffer
	cmd := newScanCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func TestScanText(t *testing.T) {
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0", "1.1.0", "sha256-abc.sig")
	out, err := runScanCmd(t, reg.Repo("team/app"), "--insecure")
	if err != nil {
		t.Fatalf("dockhand scan: %v", err)
	}
	for _, want := range []string{"Repository: " + reg.Repo("team/app"), "Tags:       2 (1 excluded)", "Credential: anonymous", "\n1.0.0\n1.1.0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("dockhand scan output lacks %q:\n%s", want, out)
		}
	}
}

func TestScanJSONWithDockerConfigAndCA(t *testing.T) {
	reg := registry.Start(t, registry.WithTLS(), registry.WithBasicAuth("ci", "ci-pw"))
	reg.PushTags(t, "team/app", "1.0.0", "2.0.0", "x.sig")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	cfg := filepath.Join(dir, "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("ci:ci-pw"))
	writeFile(t, ca, reg.CACertPEM())
	writeFile(t, cfg, []byte(`{"auths":{"`+reg.Host()+`":{"auth":"`+auth+`"}}}`))

	out, err := runScanCmd(t, reg.Repo("team/app"), "--ca-file", ca, "--docker-config", cfg, "--no-exclude", "-o", "json")
	if err != nil {
		t.Fatalf("dockhand scan: %v", err)
	}
	var got scanJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("decoding %q: %v", out, err)
	}
	if diff := cmp.Diff([]string{"1.0.0", "2.0.0", "x.sig"}, got.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if got.TagCount != 3 || got.Credential != "docker config entry for "+reg.Host() {
		t.Errorf("scan JSON = %+v", got)
	}
}

func TestScanDigest(t *testing.T) {
	reg := registry.Start(t)
	index, images := reg.PushIndex(t, "team/app", "1.0.0", "linux/amd64", "linux/arm64")
	out, err := runScanCmd(t, reg.Repo("team/app"), "--insecure", "--digest", "1.0.0")
	if err != nil {
		t.Fatalf("dockhand scan --digest: %v", err)
	}
	if strings.TrimSpace(out) != index.String() {
		t.Errorf("dockhand scan --digest = %q, want %s", out, index)
	}
	out, err = runScanCmd(t, reg.Repo("team/app"), "--insecure", "--digest", "1.0.0", "--platform", "linux/arm64", "-o", "json")
	if err != nil {
		t.Fatalf("dockhand scan --digest --platform: %v", err)
	}
	var got digestJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Digest != images[1].String() {
		t.Errorf("dockhand scan --digest --platform linux/arm64 = %q (%v), want digest %s", out, err, images[1])
	}
}

func TestScanExitCodes(t *testing.T) {
	reg := registry.Start(t, registry.WithBasicAuth("ci", "ci-pw"))
	reg.PushTags(t, "team/app", "1")
	down := registry.Start(t)
	down.PushTags(t, "team/app", "1")
	down.InjectFault(registry.Fault{Path: regexp.MustCompile(`/tags/list$`), Status: 503})
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	writeFile(t, good, []byte(`{"auths":{"`+reg.Host()+`":{"username":"ci","password":"ci-pw"}}}`))
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, []byte(`{"auths":{"`+reg.Host()+`":{"username":"ci","password":"wrong"}}}`))

	tests := []struct {
		name string
		opts scanOptions
		want int
	}{
		{name: "unknown output", opts: scanOptions{image: reg.Repo("team/app"), output: "yaml"}, want: exitScanInvalid},
		{name: "bad reference", opts: scanOptions{image: "UPPER/case:::"}, want: exitScanInvalid},
		{name: "unknown provider", opts: scanOptions{image: reg.Repo("team/app"), registryFlags: registryFlags{provider: "oracle"}}, want: exitScanInvalid},
		{name: "no credentials", opts: scanOptions{image: reg.Repo("team/app"), registryFlags: registryFlags{insecure: true}}, want: exitScanDenied},
		{name: "wrong credentials", opts: scanOptions{image: reg.Repo("team/app"), registryFlags: registryFlags{insecure: true, dockerConfig: bad}}, want: exitScanDenied},
		{name: "no such repository", opts: scanOptions{image: reg.Repo("no/such"), registryFlags: registryFlags{insecure: true, dockerConfig: good}}, want: exitScanNotFound},
		{name: "no such tag", opts: scanOptions{image: reg.Repo("team/app"), digest: "9", registryFlags: registryFlags{insecure: true, dockerConfig: good}}, want: exitScanNotFound},
		{name: "provider for a foreign host", opts: scanOptions{image: reg.Repo("team/app"), registryFlags: registryFlags{insecure: true, provider: "gcp"}}, want: exitScanDenied},
		{name: "registry unavailable", opts: scanOptions{image: down.Repo("team/app"), registryFlags: registryFlags{insecure: true}}, want: exitScanUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DOCKER_CONFIG", t.TempDir())
			tt.opts.scannerOptions = []scanner.Option{scanner.WithRetryPolicy(scanner.RetryPolicy{Attempts: 2, BaseDelay: time.Millisecond})}
			var out bytes.Buffer
			err := runScan(t.Context(), &out, tt.opts)
			e, ok := asExitError(err)
			if !ok || e.code != tt.want {
				t.Errorf("runScan = %v, want exit code %d", err, tt.want)
			}
			if strings.Contains(err.Error(), "ci-pw") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
