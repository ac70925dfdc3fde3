package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartupFailures: a busy port, a datadir in use, a datadir that cannot be created
// or written: each is one line on stderr and exit 1, found before the chain opens, and
// a busy port creates nothing.
func TestStartupFailures(t *testing.T) {
	pb, _ := binaries(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	oneLine := func(t *testing.T, r result, want string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 1 || len(lines) != 1 || !strings.Contains(lines[0], want) {
			t.Fatalf("exit %d, stderr %q; want exit 1 and one line with %q", r.code, r.stderr, want)
		}
	}
	for _, flag := range []string{"--http", "--stratum"} {
		t.Run("busy "+flag, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := []string{"serve", "--datadir", dir, "--http", "127.0.0.1:0", flag, busy.Addr().String()}
			start := time.Now()
			r := run(t, "", pb, args...)
			oneLine(t, r, flag+" "+busy.Addr().String()+": the address is already in use")
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the datadir was created (%v)", err)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("took %v", el)
			}
		})
	}
	t.Run("datadir in use", func(t *testing.T) {
		dir := t.TempDir()
		line, _, errb := serveLine(t, pb, "--datadir", dir, "--net", "private", "--private-bits", "1f00ffff", "--http", "127.0.0.1:0", "--log-level", "warn")
		if !strings.Contains(line, `"ready":true`) {
			t.Fatalf("first daemon: %q %s", line, errb)
		}
		r := run(t, "", pb, "serve", "--datadir", dir, "--net", "private", "--http", "127.0.0.1:0")
		oneLine(t, r, "--datadir "+dir+" is in use by pid ")
		pid := regexp.MustCompile(`pid (\d+)`).FindStringSubmatch(r.stderr)[1]
		cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err == nil && !strings.Contains(string(cmdline), dir) {
			t.Fatalf("pid %s is not the first daemon: %q", pid, cmdline)
		}
	})
	t.Run("datadir is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		oneLine(t, run(t, "", pb, "serve", "--datadir", filepath.Join(file, "data"), "--http", "127.0.0.1:0"), "cannot create it: not a directory")
	})
	t.Run("datadir not writable", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command(pb, "serve", "--datadir", dir, "--http", "127.0.0.1:0")
		uid := os.Getuid()
		if uid == 0 {
			uid = 65534
			// root writes anywhere: run the daemon as nobody, on a datadir owned by root.
			if err := os.Chmod(filepath.Dir(pb), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		} else if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		out, err := cmd.CombinedOutput()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		oneLine(t, result{stderr: string(out), code: code}, fmt.Sprintf("by this user (uid %d)", uid))
	})
}
