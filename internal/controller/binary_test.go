package controller

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/envtest"
)

// The tests here run the dockhand binary, `dockhand controller`, as a
// process against envtest, as a Deployment would.

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// cleanupBinary removes the built binary; TestMain calls it.
func cleanupBinary() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

// commandsWanted are the constructors the binary needs, which root.go
// may not register yet; the build adds them through an overlay.
var commandsWanted = []string{"newControllerCmd()", "newReconcileCmd()", "newSuspendCmd()", "newResumeCmd()"}

// dockhandBinary builds cmd/dockhand once per test run.
func dockhandBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		root, err := envtest.RepoRoot()
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "dockhand-controller-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "dockhand")
		args := []string{"build", "-o", built.path}
		overlay, err := rootOverlay(filepath.Join(root, "cmd", "dockhand"), built.dir)
		if err != nil {
			built.err = err
			return
		}
		if overlay != "" {
			args = append(args, "-overlay", overlay)
		}
		cmd := exec.Command("go", append(args, "./cmd/dockhand")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// rootOverlay writes a root.go registering the commands it lacks and
// returns an overlay file for go build ("" when none is needed).
func rootOverlay(pkgDir, dir string) (string, error) {
	rootGo := filepath.Join(pkgDir, "root.go")
	raw, err := os.ReadFile(rootGo)
	if err != nil {
		return "", err
	}
	var missing []string
	for _, c := range commandsWanted {
		if !bytes.Contains(raw, []byte(c)) {
			missing = append(missing, "\t\t"+c+",\n")
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	const anchor = "\t\tnewVersionCmd(),\n"
	if !bytes.Contains(raw, []byte(anchor)) {
		return "", errors.New("root.go: cannot find where commands are registered")
	}
	patched := bytes.Replace(raw, []byte(anchor), []byte(anchor+strings.Join(missing, "")), 1)
	patchedPath := filepath.Join(dir, "root.go")
	if err := os.WriteFile(patchedPath, patched, 0o644); err != nil {
		return "", err
	}
	overlay := filepath.Join(dir, "overlay.json")
	return overlay, os.WriteFile(overlay, fmt.Appendf(nil, `{"Replace":{%q:%q}}`, rootGo, patchedPath), 0o644)
}

// writeKubeconfig writes a kubeconfig reaching testEnv as its
// administrator.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	c := testEnv.Config
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	cfg.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// controllerProcess is a running `dockhand controller`.
type controllerProcess struct {
	cmd       *exec.Cmd
	log       *syncBuffer
	probeAddr string
	done      chan error
}

// startBinary runs `dockhand controller` watching namespaces, with args
// added, and waits until it is ready. The process is killed at the end of
// the test if it is still running.
func startBinary(t *testing.T, namespaces []string, args ...string) *controllerProcess {
	t.Helper()
	bin := dockhandBinary(t)
	p := &controllerProcess{log: &syncBuffer{}, probeAddr: freeAddr(t), done: make(chan error, 1)}
	dir := t.TempDir()
	all := append([]string{"controller",
		"--kubeconfig", writeKubeconfig(t),
		"--watch-namespace", strings.Join(namespaces, ","),
		"--storage-path", filepath.Join(dir, "tags.db"),
		"--health-addr", p.probeAddr,
		"--log-encoding", "console",
		"--requeue-dependency", "1s",
	}, args...)
	p.cmd = exec.Command(bin, all...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("dockhand controller log:\n%s", p.log.String())
		}
	})
	eventually(t, "dockhand controller is ready", func() error {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("exited: %v", err)
		default:
		}
		code, body, err := httpGet("http://" + p.probeAddr + "/readyz")
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("/readyz = %d %s", code, body)
		}
		return nil
	})
	return p
}

// terminate sends SIGTERM and returns the exit error once it has exited.
func (p *controllerProcess) terminate(t *testing.T) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(waitTimeout):
		t.Fatal("dockhand controller did not stop within a minute of SIGTERM")
		return nil
	}
}

// peakRSS returns the process's peak resident set size (VmHWM), in bytes.
func (p *controllerProcess) peakRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// TestControllerBinary runs the built `dockhand controller` through the
// pipeline, serving metrics, and stops it with SIGTERM.
func TestControllerBinary(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	p := newPipeline(t, ns)
	metricsAddr := freeAddr(t)
	proc := startBinary(t, []string{ns}, "--metrics-addr", metricsAddr,
		"--enable-leader-election", "--leader-election-namespace", ns, "--log-level", "debug")
	p.createAll(t)
	p.waitForLatest(t, "1.0.0")
	p.reg.PushTags(t, "team/app", "1.1.0")
	setRequest(t, p.repo, "binary")
	p.waitForFile(t, "1.1.0")
	waitReady(t, p.auto, metav1.ConditionTrue, imagev1.SucceededReason)

	code, body, err := httpGet("http://" + metricsAddr + "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics = %d, %v", code, err)
	}
	for _, want := range []string{
		`dockhand_scans_total{code="200",host="` + p.reg.Host() + `"}`,
		`dockhand_registry_requests_total{code="200",host="` + p.reg.Host() + `"}`,
		`dockhand_automation_runs_total{outcome="Pushed"} 1`,
		`controller_runtime_reconcile_total{controller="imageupdateautomation",result="success"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if err := proc.terminate(t); err != nil {
		t.Errorf("dockhand controller exited with %v after SIGTERM, want 0", err)
	}
	if log := proc.log.String(); !strings.Contains(log, "Stopped") {
		t.Errorf("log does not end with a clean stop:\n%s", log)
	}
}

// The scale benchmark: DOCKHAND_SCALE=1000 go test ./internal/controller
// -run TestScale -v. It is a test rather than a Go benchmark because one
// run takes a minute and measures a separate process.
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DOCKHAND_SCALE"))
	if n <= 0 {
		t.Skip("set DOCKHAND_SCALE=N to run the scale benchmark with N repositories and policies")
	}
	testEnv.Require(t)
	runScale(t, n)
}

// ctxDeadline is the context for the bulk work of the scale benchmark.
func ctxDeadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
