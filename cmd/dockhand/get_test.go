package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dockhand-dev/dockhand/fixtures/envtest"
	"github.com/dockhand-dev/dockhand/internal/runner"
)

// ranFixture is a runFixture after one successful run --once.
func ranFixture(t *testing.T, namespace string) *runFixture {
	t.Helper()
	f := newRunFixture(t)
	if namespace != "" {
		f.write("objects.yaml", strings.ReplaceAll(f.objects(), "metadata:\n", "metadata:\n  namespace: "+namespace+"\n"))
	}
	if _, errOut, code := f.run(f.opts()); code != 0 {
		t.Fatalf("run --once: exit %d\n%s", code, errOut)
	}
	return f
}

func get(t *testing.T, opts getOptions) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runGet(t.Context(), &out, &errOut, opts)
	return out.String(), errOut.String(), err
}

func TestGetImagesFromState(t *testing.T) {
	f := ranFixture(t, "")
	image := f.reg.Repo("team/app")

	out, _, err := get(t, getOptions{kind: getAll, statePath: f.state})
	if err != nil {
		t.Fatal(err)
	}
	tables := strings.Split(out, "\n\n")
	if len(tables) != 3 {
		t.Fatalf("get images all printed %d tables, want 3:\n%s", len(tables), out)
	}
	for i, want := range [][]string{
		{"NAME IMAGE TAGS LAST SCAN SUSPENDED READY MESSAGE", "imagerepository/app " + image + " 2 * false True successful scan: found 2 tags in *"},
		{"NAME LATEST IMAGE READY MESSAGE", "imagepolicy/app " + image + ":1.0.1 True latest image " + image + ":1.0.1"},
		{"NAME LAST RUN LAST PUSH SUSPENDED READY MESSAGE", "imageupdateautomation/fleet * * false True pushed commit * to refs/heads/main"},
	} {
		if got := tableWords(tables[i]); !cmp.Equal(got, want, cmp.Comparer(wildcardEqual)) {
			t.Errorf("table %d:\n%s\nwant (words, * for a time):\n%s", i, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	out, _, err = get(t, getOptions{kind: getPolicies, statePath: f.state, allNamespaces: true, output: "wide"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAMESPACE   NAME   LATEST IMAGE") || !strings.Contains(lines[0], "PREVIOUS IMAGE") || !strings.HasPrefix(lines[1], "default     app    ") {
		t.Errorf("get images policies -A -o wide:\n%s", out)
	}

	out, _, err = get(t, getOptions{kind: getUpdates, statePath: f.state, showHistory: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "HISTORY OF default/fleet\nTIME") || !strings.Contains(out, "Pushed") {
		t.Errorf("get images updates --show-history:\n%s", out)
	}

	out, _, err = get(t, getOptions{kind: getAll, statePath: f.state, output: "json"})
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string
		Items []struct {
			APIVersion string
			Kind       string
			Status     map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, out)
	}
	var kinds []string
	for _, it := range list.Items {
		kinds = append(kinds, it.APIVersion+" "+it.Kind)
		if len(it.Status) == 0 {
			t.Errorf("%s has no status in -o json", it.Kind)
		}
	}
	want := []string{"image.dockhand.dev/v1 ImageRepository", "image.dockhand.dev/v1 ImagePolicy", "image.dockhand.dev/v1 ImageUpdateAutomation"}
	if list.Kind != "List" || !cmp.Equal(kinds, want) {
		t.Errorf("-o json: kind %q, items %v; want List of %v", list.Kind, kinds, want)
	}

	out, errOut, err := get(t, getOptions{kind: getAll, statePath: f.state, namespace: "elsewhere"})
	if err != nil || out != "" || !strings.Contains(errOut, "No image repositories, policies or update automations found in namespace elsewhere") {
		t.Errorf("get in an empty namespace: %v, stdout %q, stderr %q", err, out, errOut)
	}
}

func TestGetImagesArguments(t *testing.T) {
	for _, args := range [][]string{
		{"images", "pods"},
		{"images", "-o", "xml", "--state", "x"},
		{"images", "--state", "x", "--context", "kind"},
	} {
		cmd := newGetCmd()
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.ExecuteContext(t.Context())
		if e, ok := asExitError(err); !ok || e.code != exitGetInvalid {
			t.Errorf("get %v = %v, want exit %d", args, err, exitGetInvalid)
		}
	}
	cmd := newGetCmd()
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs([]string{"images", "--state", filepath.Join(t.TempDir(), "missing.db")})
	cmd.SetOut(&bytes.Buffer{})
	if e, ok := asExitError(cmd.ExecuteContext(t.Context())); !ok || e.code != exitGetFailed {
		t.Errorf("get --state with a missing file: want exit %d", exitGetFailed)
	}
}

// tableWords collapses the runs of spaces of each line.
func tableWords(table string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(table), "\n") {
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

// wildcardEqual compares strings where a "*" in either matches one word.
func wildcardEqual(a, b string) bool {
	wa, wb := strings.Fields(a), strings.Fields(b)
	if len(wa) != len(wb) {
		return false
	}
	for i := range wa {
		if wa[i] != wb[i] && wa[i] != "*" && wb[i] != "*" {
			return false
		}
	}
	return true
}

// TestGetImagesClusterSameTables puts the objects a run recorded into an
// API server and checks that both sources print the same tables.
func TestGetImagesClusterSameTables(t *testing.T) {
	env := testEnv(t)
	ns := env.Namespace(t)
	f := ranFixture(t, ns)
	objs, err := objectsFromState(t.Context(), f.state)
	if err != nil {
		t.Fatal(err)
	}
	var created []client.Object
	for i := range objs.Repositories {
		created = append(created, &objs.Repositories[i])
	}
	for i := range objs.Policies {
		created = append(created, &objs.Policies[i])
	}
	for i := range objs.Automations {
		created = append(created, &objs.Automations[i])
	}
	for _, o := range created {
		status := o.DeepCopyObject().(client.Object)
		o.SetResourceVersion("")
		o.SetCreationTimestamp(status.GetCreationTimestamp())
		if err := env.Client.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
		status.SetResourceVersion(o.GetResourceVersion())
		if err := env.Client.Status().Update(t.Context(), status); err != nil {
			t.Fatalf("updating the status of %s: %v", o.GetName(), err)
		}
	}

	kubeconfig := writeKubeconfig(t, env, ns)
	for _, opts := range []getOptions{
		{kind: getAll},
		{kind: getAll, output: "wide", showHistory: true},
		{kind: getPolicies, allNamespaces: true},
	} {
		fromState := opts
		fromState.statePath, fromState.namespace = f.state, ns
		want, _, err := get(t, fromState)
		if err != nil {
			t.Fatal(err)
		}
		fromCluster := opts
		fromCluster.kubeconfig = kubeconfig
		got, _, err := get(t, fromCluster)
		if err != nil {
			t.Fatal(err)
		}
		if opts.allNamespaces {
			got = keepNamespace(got, ns)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("get %+v from the cluster differs from the state file (-state +cluster):\n%s", opts, diff)
		}
	}
}

// keepNamespace drops the rows of other namespaces (tests share the API
// server).
func keepNamespace(table, ns string) string {
	var out []string
	for i, l := range strings.SplitAfter(table, "\n") {
		if i == 0 || strings.HasPrefix(l, ns+" ") || l == "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// writeKubeconfig writes a kubeconfig for env whose context's namespace is
// ns.
func writeKubeconfig(t *testing.T, env *envtest.Env, ns string) string {
	t.Helper()
	c := env.Config
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: ns}
	cfg.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGetImagesWhileRunning reads the state of a long-running dockhand run,
// which holds the file, through the socket it serves.
func TestGetImagesWhileRunning(t *testing.T) {
	f := newRunFixture(t)
	opts := f.opts()
	opts.once = false
	opts.signals = make(chan os.Signal)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runRun(ctx, &bytes.Buffer{}, &bytes.Buffer{}, opts) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("dockhand run: %v", err)
		}
		if _, err := os.Stat(runner.SocketPath(f.state)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the socket is still there after the run: %v", err)
		}
	}()

	deadline := time.Now().Add(time.Minute)
	for {
		out, _, err := get(t, getOptions{kind: getUpdates, statePath: f.state})
		if err == nil && strings.Contains(out, "pushed commit") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("get images updates while running: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
