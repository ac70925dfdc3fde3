//go:build !cgo

package main

import "errors"

// needCgo reports whether this build lacks what the daemon needs; SQLite
// (github.com/mattn/go-sqlite3) is C code, so serve and demo need cgo.
func needCgo() error {
	return errors.New("this binary was built with CGO_ENABLED=0, but serve and demo need cgo for SQLite: rebuild with CGO_ENABLED=1 and a C compiler (gcc or clang)")
}
