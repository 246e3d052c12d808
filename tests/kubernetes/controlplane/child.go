package main

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// child is one run of a control-plane component as a child process of this binary
// (`gpufit-controlplane kube-apiserver ...`), with stdout and stderr appended to logPath.
// start and stop are called by one goroutine at a time (the supervisor's mu); done and err
// may be read by anyone once done is closed.
type child struct {
	name    string
	args    []string
	logPath string
	fatal   chan<- error // told when the process exits without stop having been called

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	err      error         // its exit status; valid after done
	stopping atomic.Bool
}

func (c *child) start() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "==== gpufit-controlplane: starting %s at %s\n", c.name, time.Now().Format(time.RFC3339Nano))
	c.cmd = exec.Command(self, append([]string{c.name}, c.args...)...)
	c.cmd.Stdout = logFile
	c.cmd.Stderr = logFile
	// If the supervisor dies (a test binary killed on timeout), the kernel kills the child
	// rather than leaving an API server holding ports and memory.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("%s: %w", c.name, err)
	}
	c.done = make(chan struct{})
	go func() {
		c.err = c.cmd.Wait()
		logFile.Close()
		close(c.done)
		if !c.stopping.Load() {
			select {
			case c.fatal <- fmt.Errorf("%s exited unexpectedly: %v (log: %s)", c.name, c.err, c.logPath):
			default:
			}
		}
	}()
	return nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends sig (SIGTERM: graceful, SIGKILL: a crash) and waits for the exit; after
// childStopTimeout a graceful stop becomes SIGKILL.
func (c *child) stop(sig syscall.Signal) {
	c.stopping.Store(true)
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(childStopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
