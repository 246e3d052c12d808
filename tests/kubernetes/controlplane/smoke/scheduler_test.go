// Package smoke proves the control plane that gpufit's Kubernetes tests run against is the
// real thing: kube-scheduler binds a GPU pod to a node the API server accepted, consults a
// scheduler extender over the extender/v1 wire format with the config gpufit ships, clients
// survive API server restarts and etcd compaction, and kubectl works against it.
package smoke

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gpufit/tests/kubernetes/controlplane/cptest"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
)

// scheduleTimeout bounds the wait for a binding or an Unschedulable condition. The scheduler
// decides in milliseconds; the margin covers informer sync after start on a loaded machine.
const scheduleTimeout = 120 * time.Second

// sourceDir is the repository root: $GPUFIT_SOURCE_DIR (CTest sets it), else four levels up
// from this package's directory (where `go test` runs).
func sourceDir(t *testing.T) string {
	if dir := os.Getenv("GPUFIT_SOURCE_DIR"); dir != "" {
		return dir
	}
	dir, err := filepath.Abs("../../../..")
	cptest.Must(t, err, "repository root")
	return dir
}

func isBound(p *corev1.Pod) bool { return p.Spec.NodeName != "" }

// unschedulable reports whether the scheduler has given up on the pod for now, with a
// message (PodScheduled=False, reason Unschedulable).
func unschedulable(p *corev1.Pod) bool {
	c := cptest.PodScheduledCondition(p)
	return c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
}

// The default profile (no extender) binds a pod asking for one nvidia.com/gpu to the one
// node that advertises it, and keeps a second such pod Pending: the GPU is accounted.
func TestSchedulerBindsGPUPod(t *testing.T) {
	cp := cptest.Start(t, cptest.Options{})
	ctx := context.Background()
	cptest.CreateGPUNode(t, cp.Client, "gpu-l4-0", cptest.L4Labels(), 1)

	node, err := cp.Client.CoreV1().Nodes().Get(ctx, "gpu-l4-0", metav1.GetOptions{})
	cptest.Must(t, err, "get node")
	for k, v := range cptest.L4Labels() {
		if node.Labels[k] != v {
			t.Errorf("node label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	if got := node.Status.Allocatable[cptest.GPUResource]; got.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("node allocatable %s = %s, want 1", cptest.GPUResource, got.String())
	}

	_, err = cp.Client.CoreV1().Pods("default").Create(ctx, cptest.GPUPod("inference-0", corev1.DefaultSchedulerName, 1), metav1.CreateOptions{})
	cptest.Must(t, err, "create pod inference-0")
	pod := cptest.WaitForPod(t, cp.Client, "default", "inference-0", scheduleTimeout, "bound by kube-scheduler", isBound)
	if pod.Spec.NodeName != "gpu-l4-0" {
		t.Fatalf("inference-0 bound to %q, want gpu-l4-0", pod.Spec.NodeName)
	}
	if c := cptest.PodScheduledCondition(pod); c != nil && c.Status != corev1.ConditionTrue {
		t.Errorf("inference-0 PodScheduled = %s (%s), want True", c.Status, c.Message)
	}

	_, err = cp.Client.CoreV1().Pods("default").Create(ctx, cptest.GPUPod("inference-1", corev1.DefaultSchedulerName, 1), metav1.CreateOptions{})
	cptest.Must(t, err, "create pod inference-1")
	pod = cptest.WaitForPod(t, cp.Client, "default", "inference-1", scheduleTimeout, "Unschedulable", unschedulable)
	if pod.Spec.NodeName != "" {
		t.Fatalf("inference-1 bound to %q; the node's only GPU is taken", pod.Spec.NodeName)
	}
	if msg := cptest.PodScheduledCondition(pod).Message; !strings.Contains(msg, "Insufficient nvidia.com/gpu") {
		t.Errorf("inference-1 PodScheduled message = %q, want it to name Insufficient nvidia.com/gpu", msg)
	}
}

// fakeExtender is a scheduler extender on loopback that speaks extender/v1 (the types
// kube-scheduler itself uses) and fails nodes by rule. Safe for concurrent requests.
type fakeExtender struct {
	failNode        string // failed for every pod
	failAllForPod   string // this pod is failed on every node
	failAllMessage  string
	mu              sync.Mutex
	filteredPods    map[string][]string // pod name -> node names of each filter call, appended
	prioritizedPods map[string]int
}

func (e *fakeExtender) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /filter", func(w http.ResponseWriter, r *http.Request) {
		var args extenderv1.ExtenderArgs
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&args); err != nil {
			t.Errorf("extender /filter: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// nodeCacheCapable: true in deploy/scheduler: node names only, no Node objects.
		if args.Pod == nil || args.NodeNames == nil || args.Nodes != nil {
			t.Errorf("extender /filter: want Pod and NodeNames only (nodeCacheCapable), got %+v", args)
		}
		result := extenderv1.ExtenderFilterResult{FailedNodes: extenderv1.FailedNodesMap{}}
		passing := []string{}
		e.mu.Lock()
		for _, name := range *args.NodeNames {
			e.filteredPods[args.Pod.Name] = append(e.filteredPods[args.Pod.Name], name)
			switch {
			case args.Pod.Name == e.failAllForPod:
				result.FailedNodes[name] = e.failAllMessage
			case name == e.failNode:
				result.FailedNodes[name] = "gpufit-smoke: " + name + " is failed by the extender"
			default:
				passing = append(passing, name)
			}
		}
		e.mu.Unlock()
		result.NodeNames = &passing
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(result)
	})
	mux.HandleFunc("POST /prioritize", func(w http.ResponseWriter, r *http.Request) {
		var args extenderv1.ExtenderArgs
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&args); err != nil {
			t.Errorf("extender /prioritize: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		scores := extenderv1.HostPriorityList{} // a bare array on the wire
		if args.NodeNames != nil {
			for _, name := range *args.NodeNames {
				scores = append(scores, extenderv1.HostPriority{Host: name, Score: extenderv1.MaxExtenderPriority})
			}
		}
		e.mu.Lock()
		if args.Pod != nil {
			e.prioritizedPods[args.Pod.Name]++
		}
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(scores)
	})
	return mux
}

func (e *fakeExtender) filtered(pod string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.filteredPods[pod]...)
}

// kube-scheduler with the KubeSchedulerConfiguration gpufit ships (deploy/scheduler/, profile
// gpufit-scheduler, nodeCacheCapable, managedResources nvidia.com/gpu, ignorable: false),
// its urlPrefix pointed at an extender in this test: the extender's filter decides where a
// GPU pod lands, its message reaches the Pending pod's PodScheduled condition, and a pod that
// asks for no managed resource is scheduled without asking the extender.
func TestSchedulerFollowsExtender(t *testing.T) {
	ext := &fakeExtender{
		failNode:        "gpu-l4-a",
		failAllForPod:   "no-gpu-fits",
		failAllMessage:  "gpufit-smoke: no GPU on this node can serve the workload",
		filteredPods:    map[string][]string{},
		prioritizedPods: map[string]int{},
	}
	server := httptest.NewServer(ext.handler(t)) // 127.0.0.1, a port the kernel picks
	defer server.Close()

	config := filepath.Join(sourceDir(t), "deploy", "scheduler", "kube-scheduler-config.yaml")
	cp := cptest.Start(t, cptest.Options{SchedulerConfig: config, ExtenderURLPrefix: server.URL})
	ctx := context.Background()
	cptest.CreateGPUNode(t, cp.Client, "gpu-l4-a", cptest.L4Labels(), 1)
	cptest.CreateGPUNode(t, cp.Client, "gpu-l4-b", cptest.L4Labels(), 1)
	const scheduler = "gpufit-scheduler" // the profile in deploy/scheduler

	_, err := cp.Client.CoreV1().Pods("default").Create(ctx, cptest.GPUPod("lands-on-b", scheduler, 1), metav1.CreateOptions{})
	cptest.Must(t, err, "create pod lands-on-b")
	pod := cptest.WaitForPod(t, cp.Client, "default", "lands-on-b", scheduleTimeout, "bound", isBound)
	if pod.Spec.NodeName != "gpu-l4-b" {
		t.Errorf("lands-on-b bound to %q, want gpu-l4-b (the extender fails gpu-l4-a)", pod.Spec.NodeName)
	}
	if len(ext.filtered("lands-on-b")) == 0 {
		t.Errorf("the extender never saw a filter call for lands-on-b")
	}

	_, err = cp.Client.CoreV1().Pods("default").Create(ctx, cptest.GPUPod("no-gpu-fits", scheduler, 1), metav1.CreateOptions{})
	cptest.Must(t, err, "create pod no-gpu-fits")
	pod = cptest.WaitForPod(t, cp.Client, "default", "no-gpu-fits", scheduleTimeout, "Unschedulable", unschedulable)
	if pod.Spec.NodeName != "" || pod.Status.Phase != corev1.PodPending {
		t.Errorf("no-gpu-fits: nodeName %q, phase %s; want unbound and Pending", pod.Spec.NodeName, pod.Status.Phase)
	}
	if msg := cptest.PodScheduledCondition(pod).Message; !strings.Contains(msg, ext.failAllMessage) {
		t.Errorf("no-gpu-fits PodScheduled message = %q, want it to carry the extender's %q", msg, ext.failAllMessage)
	}
	if got := ext.filtered("no-gpu-fits"); len(got) == 0 {
		t.Errorf("the extender never saw a filter call for no-gpu-fits")
	}

	// managedResources lists only GPU resources: a CPU-only pod never reaches the extender.
	cpuOnly := cptest.GPUPod("cpu-only", scheduler, 0)
	cpuOnly.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
	}
	_, err = cp.Client.CoreV1().Pods("default").Create(ctx, cpuOnly, metav1.CreateOptions{})
	cptest.Must(t, err, "create pod cpu-only")
	cptest.WaitForPod(t, cp.Client, "default", "cpu-only", scheduleTimeout, "bound", isBound)
	if got := ext.filtered("cpu-only"); len(got) != 0 {
		t.Errorf("the extender was asked to filter cpu-only (nodes %v); managedResources should keep it out", got)
	}
}
