// Command gpufit-controlplane runs a real Kubernetes control plane on loopback for gpufit's
// tests: etcd, kube-apiserver and kube-scheduler compiled from the Kubernetes Go modules of
// one release (see go.mod), not fakes. No controller-manager and no kubelet: tests create
// Nodes themselves and the scheduler binds Pods to them.
//
// One binary, three roles (the first argument):
//
//	gpufit-controlplane up --data-dir DIR [flags]  the supervisor (what tests run): generates
//	    certificates, runs etcd in-process, runs the other two as child processes of this
//	    same binary, and serves a small control endpoint for restarts and compaction
//	gpufit-controlplane kube-apiserver [flags]     k8s.io/kubernetes/cmd/kube-apiserver/app
//	gpufit-controlplane kube-scheduler [flags]     k8s.io/kubernetes/cmd/kube-scheduler/app
//
// The API server runs in its own process so that it can be stopped and started alone (its
// package keeps process-wide state that does not support a second server in one process).
package main

import (
	"fmt"
	"os"

	"k8s.io/component-base/cli"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	schedulerapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = `usage: gpufit-controlplane up --data-dir DIR [flags]   (see gpufit-controlplane up --help)
       gpufit-controlplane kube-apiserver [kube-apiserver flags]
       gpufit-controlplane kube-scheduler [kube-scheduler flags]
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	role, args := os.Args[1], os.Args[2:]
	switch role {
	case "up":
		os.Exit(runUp(args))
	case "kube-apiserver":
		cmd := apiserverapp.NewAPIServerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-scheduler":
		cmd := schedulerapp.NewSchedulerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "gpufit-controlplane: unknown role %q\n%s", role, usage)
		os.Exit(2)
	}
}
