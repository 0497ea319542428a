package conformance

import "syscall"

// sysProcAttr makes the kernel kill a server when the test process dies, so
// an interrupted run leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
