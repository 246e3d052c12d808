package cptest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// GPUResource is the extended resource the NVIDIA device plugin advertises.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// L4Labels are the GPU Feature Discovery labels of a node with one NVIDIA L4 (24 GB; GFD
// reports gpu.memory in MiB: 23034 is what an L4 shows).
func L4Labels() map[string]string {
	return map[string]string{
		"nvidia.com/gpu.product": "NVIDIA-L4",
		"nvidia.com/gpu.count":   "1",
		"nvidia.com/gpu.memory":  "23034",
	}
}

// CreateGPUNode creates a Node as a kubelet with the NVIDIA device plugin would leave it:
// labels, then (there is no kubelet) a status update with capacity and allocatable (8 CPUs,
// 32 GiB, 110 pods, gpus x nvidia.com/gpu) and a Ready condition.
func CreateGPUNode(t testing.TB, client kubernetes.Interface, name string, labels map[string]string, gpus int64) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	all := map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
	for k, v := range labels {
		all[k] = v
	}
	node, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: all},
	}, metav1.CreateOptions{})
	Must(t, err, "create node %s", name)

	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
		GPUResource:           *resource.NewQuantity(gpus, resource.DecimalSI),
	}
	now := metav1.Now()
	node.Status = corev1.NodeStatus{
		Capacity:    resources,
		Allocatable: resources,
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: now, LastTransitionTime: now,
		}},
	}
	node, err = client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	Must(t, err, "update status of node %s", name)
	return node
}

// GPUPod is a Pod in namespace default that asks schedulerName for gpus x nvidia.com/gpu
// (limits only: for extended resources the requests default to the limits). Its image is
// never pulled: there is no kubelet.
func GPUPod(name, schedulerName string, gpus int64) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			SchedulerName: schedulerName,
			Containers: []corev1.Container{{
				Name:  "server",
				Image: "registry.invalid/gpufit/smoke:1",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					GPUResource: *resource.NewQuantity(gpus, resource.DecimalSI),
				}},
			}},
		},
	}
}

// Eventually polls cond every 100 ms until it returns true, failing t after timeout with
// what was awaited and the last error. Waits are bounded so that only a hang fails a test.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) {
			ok, err := cond(ctx)
			if err != nil {
				last = err // keep polling: the API server may be restarting
				return false, nil
			}
			return ok, nil
		})
	if err != nil {
		t.Fatalf("%s: not within %s (last error: %v)", what, timeout, last)
	}
}

// WaitForPod polls the pod until cond holds for it; returns the pod.
func WaitForPod(t testing.TB, client kubernetes.Interface, namespace, name string, timeout time.Duration,
	what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	Eventually(t, timeout, "pod "+namespace+"/"+name+": "+what, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		return cond(p), nil
	})
	return pod
}

// PodScheduledCondition returns the pod's PodScheduled condition, or nil.
func PodScheduledCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}
