//go:build !linux

package eventlog_test

import "syscall"

func serverProcAttr() *syscall.SysProcAttr { return nil }
