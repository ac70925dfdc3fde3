package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// shareLog writes one line per share the pool answered, for tools that check what a
// pool acknowledged (powsoak): "<hash> accepted" or "<hash> rejected <reason>", the hash
// of the share's block header in display order (like a block hash; "-" when the pool
// did not say).
// Lines are flushed every 100 ms and at close, so a reader sees whole lines only.
type shareLog struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
	err  error
}

// shareLogFlag adds --share-log.
func shareLogFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "share-log", "", "append a line per share the pool answered to `FILE` (header hash, accepted or rejected)")
}

// openShareLog opens path for appending; an empty path gives a log that writes nothing.
func openShareLog(path string) (*shareLog, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--share-log: %w", err)
	}
	l := &shareLog{f: f, w: bufio.NewWriterSize(f, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushLoop()
	return l, nil
}

func (l *shareLog) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			if err := l.w.Flush(); err != nil && l.err == nil {
				l.err = err
			}
			l.mu.Unlock()
		}
	}
}

// add records one answer; hash is the header hash in display order.
func (l *shareLog) add(hash string, accepted bool, reason string) {
	if l == nil {
		return
	}
	if hash == "" {
		hash = "-"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if accepted {
		fmt.Fprintf(l.w, "%s accepted\n", hash)
	} else {
		fmt.Fprintf(l.w, "%s rejected %s\n", hash, reason)
	}
}

// displayHash renders an internal-order hash in display order.
func displayHash(h [32]byte) string {
	var d [32]byte
	for i := range h {
		d[i] = h[31-i]
	}
	return hex.EncodeToString(d[:])
}

// close flushes and closes the file.
func (l *shareLog) close() error {
	if l == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.err
	if ferr := l.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--share-log: %w", err)
	}
	return nil
}
