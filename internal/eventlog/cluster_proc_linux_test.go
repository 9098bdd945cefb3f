package eventlog_test

import "syscall"

// serverProcAttr has the kernel kill a test's nats-server when the test
// binary dies without running its cleanups (a panic, a -timeout).
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
