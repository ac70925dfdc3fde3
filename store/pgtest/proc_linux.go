package pgtest

import "syscall"

// procAttr runs a server process as cred (nil: the current user) and kills it when the
// test binary dies.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
}
