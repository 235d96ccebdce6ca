package s3test

import "syscall"

// procAttr makes the kernel kill versitygw if the test process dies without
// cleaning up (a panic, a timeout, go test killed).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
