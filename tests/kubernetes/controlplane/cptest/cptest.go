// Package cptest starts gpufit-controlplane (`up`) for a Go test and talks to it: the admin
// client, API server restarts and etcd compaction. Each Start is a separate control plane with
// its own data directory, ports and certificates, so tests may run in parallel processes.
//
// The binary is found through $GPUFIT_CONTROLPLANE_BIN (tests/kubernetes/build.sh builds it;
// CTest sets the variable).
package cptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// StartTimeout bounds `up` until controlplane.json exists: certificates, etcd, and
	// kube-apiserver's /readyz (~10 s on an idle 2-core machine; ctest runs tests in parallel).
	StartTimeout = 240 * time.Second
	// controlTimeout bounds one control call; a restart waits for /readyz (see up.go).
	controlTimeout = 240 * time.Second
	// stopTimeout bounds the supervisor's graceful exit, which stops its children first.
	stopTimeout = 90 * time.Second
	// logTailBytes is how much of each component log a failed test prints.
	logTailBytes = 8 << 10
)

// Options configure one control plane; the zero value is etcd, kube-apiserver and a
// kube-scheduler with the default profile.
type Options struct {
	SchedulerConfig   string   // KubeSchedulerConfiguration file; "" = default profile
	ExtenderURLPrefix string   // replaces every extenders[].urlPrefix of SchedulerConfig
	NoScheduler       bool     // etcd and kube-apiserver only
	APIServerArgs     []string // extra kube-apiserver flags, e.g. "--watch-cache=false"
}

// State mirrors DATA_DIR/controlplane.json (see State in ../up.go).
type State struct {
	APIServerURL    string `json:"apiServerURL"`
	Kubeconfig      string `json:"kubeconfig"`
	CAFile          string `json:"caFile"`
	AdminTokenFile  string `json:"adminTokenFile"`
	EtcdURL         string `json:"etcdURL"`
	ControlURL      string `json:"controlURL"`
	SchedulerConfig string `json:"schedulerConfig"`
	PID             int    `json:"pid"`
}

// ControlPlane is a running `gpufit-controlplane up`; t.Cleanup stops it. Its methods may be
// called from the test goroutine only (they call t.Fatal).
type ControlPlane struct {
	State
	Dir        string // the data directory: logs, kubeconfig, pki/
	RESTConfig *rest.Config
	Client     kubernetes.Interface // admin (system:masters)

	t   testing.TB
	cmd *exec.Cmd
}

// BinaryPath returns $GPUFIT_CONTROLPLANE_BIN, or fails the test with what to do.
func BinaryPath(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("GPUFIT_CONTROLPLANE_BIN")
	if bin == "" {
		t.Fatal("GPUFIT_CONTROLPLANE_BIN: not set; build with tests/kubernetes/build.sh and point it at build/kubernetes/gpufit-controlplane")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("GPUFIT_CONTROLPLANE_BIN: %v", err)
	}
	return bin
}

// Start runs a control plane and waits until it is ready.
func Start(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	bin := BinaryPath(t)
	dir := t.TempDir()
	args := []string{"up", "--data-dir", dir}
	if opts.SchedulerConfig != "" {
		args = append(args, "--scheduler-config", opts.SchedulerConfig)
	}
	if opts.ExtenderURLPrefix != "" {
		args = append(args, "--extender-url-prefix", opts.ExtenderURLPrefix)
	}
	if opts.NoScheduler {
		args = append(args, "--no-scheduler")
	}
	for _, a := range opts.APIServerArgs {
		args = append(args, "--apiserver-arg="+a)
	}
	logFile, err := os.Create(filepath.Join(dir, "up.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// If the test binary is killed (ctest timeout), take the control plane with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	cp := &ControlPlane{Dir: dir, t: t, cmd: cmd}
	t.Cleanup(func() {
		if t.Failed() {
			cp.dumpLogs()
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("gpufit-controlplane did not exit within %s of SIGTERM", stopTimeout)
		}
	})

	statePath := filepath.Join(dir, "controlplane.json")
	deadline := time.Now().Add(StartTimeout)
	for {
		data, err := os.ReadFile(statePath)
		if err == nil {
			if err := json.Unmarshal(data, &cp.State); err != nil {
				t.Fatalf("%s: %v", statePath, err)
			}
			break
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			cp.dumpLogs()
			t.Fatalf("gpufit-controlplane up exited before it was ready: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cp.dumpLogs()
			t.Fatalf("gpufit-controlplane up: not ready after %s", StartTimeout)
		}
	}

	cp.RESTConfig, err = clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
	if err != nil {
		t.Fatalf("%s: %v", cp.Kubeconfig, err)
	}
	cp.Client, err = kubernetes.NewForConfig(cp.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// RestartAPIServer stops kube-apiserver (signal "TERM": graceful; "KILL": a crash) and starts
// it again on the same port; it returns when /readyz is 200. etcd and the scheduler keep running.
func (c *ControlPlane) RestartAPIServer(signal string) {
	c.t.Helper()
	c.control("/apiserver/restart?signal="+signal, nil)
}

// StopAPIServer stops kube-apiserver until StartAPIServer.
func (c *ControlPlane) StopAPIServer(signal string) {
	c.t.Helper()
	c.control("/apiserver/stop?signal="+signal, nil)
}

// StartAPIServer starts a stopped kube-apiserver and waits for /readyz.
func (c *ControlPlane) StartAPIServer() {
	c.t.Helper()
	c.control("/apiserver/start", nil)
}

// CompactEtcd compacts etcd's history up to its current revision (physically); a watch or a
// list from an older resourceVersion then gets 410 Gone. Returns that revision.
func (c *ControlPlane) CompactEtcd() int64 {
	c.t.Helper()
	var out struct {
		Revision int64 `json:"revision"`
	}
	c.control("/etcd/compact", &out)
	return out.Revision
}

func (c *ControlPlane) control(path string, out interface{}) {
	c.t.Helper()
	client := &http.Client{Timeout: controlTimeout}
	resp, err := client.Post(c.ControlURL+path, "application/json", nil)
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("POST %s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			c.t.Fatalf("POST %s: %v: %s", path, err, body)
		}
	}
}

// dumpLogs prints the end of each component's log, which is all a failed CI run leaves behind
// (the data directory is a t.TempDir).
func (c *ControlPlane) dumpLogs() {
	for _, name := range []string{"up.log", "etcd.log", "kube-apiserver.log", "kube-scheduler.log"} {
		tail, err := readTail(filepath.Join(c.Dir, name), logTailBytes)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			c.t.Logf("%s: %v", name, err)
			continue
		}
		c.t.Logf("---- last %d bytes of %s ----\n%s", len(tail), name, tail)
	}
}

func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() > n {
		if _, err := f.Seek(info.Size()-n, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(f)
}

// Must is a helper for tests: it fails t on err with what was being done.
func Must(t testing.TB, err error, doing string, args ...interface{}) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(doing, args...), err)
	}
}
