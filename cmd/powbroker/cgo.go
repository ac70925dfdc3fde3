//go:build cgo

package main

// needCgo reports whether this build lacks what the daemon needs; SQLite
// (github.com/mattn/go-sqlite3) is C code, so serve and demo need cgo.
func needCgo() error { return nil }
