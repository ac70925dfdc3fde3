//go:build !unix

package store

import (
	"fmt"
	"os"
)

// lockFile only creates the lock file where advisory locks are not available.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	return f, nil
}
