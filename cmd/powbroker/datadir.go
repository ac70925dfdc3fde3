package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockName is the daemon's lock file in the datadir; it holds the owner's pid.
const lockName = "powbroker.pid"

// lockDataDir creates the datadir when missing, checks that it is writable, and takes
// an exclusive advisory lock on its pid file, so that a second daemon on the same
// datadir stops at once, naming the first one's pid. The kernel drops the lock when the
// process ends, kill -9 included. Each failure is one line.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("--datadir %s is not accessible by this user (uid %d): %s", dir, os.Getuid(), reason(err))
		}
		return nil, fmt.Errorf("--datadir %s: cannot create it: %s", dir, reason(err))
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--datadir %s is not writable by this user (uid %d): %s", dir, os.Getuid(), reason(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--datadir %s is in use by %s", dir, lockOwner(path))
		}
		return nil, fmt.Errorf("--datadir %s: lock %s: %s", dir, lockName, reason(err))
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--datadir %s is not writable: %s", dir, reason(err))
	}
	return f, nil
}

// lockOwner names the process holding the lock, from the pid it wrote.
func lockOwner(path string) string {
	b, err := os.ReadFile(path)
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
		return "pid " + strconv.Itoa(pid)
	}
	return "another process"
}

// reason is the system's word for an error, without the path it names again.
func reason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
