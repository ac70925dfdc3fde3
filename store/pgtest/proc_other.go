//go:build !linux

package pgtest

import "syscall"

// procAttr runs a server process as cred (nil: the current user).
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
