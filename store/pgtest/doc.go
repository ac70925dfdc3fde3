// Package pgtest runs a real PostgreSQL server for tests: one server per test binary,
// started from TestMain in a temporary directory on a free loopback port, and a fresh
// database per test.
//
// The server binaries are found through POWBROKER_PG_BIN (a directory holding initdb
// and postgres), else the newest /usr/lib/postgresql/*/bin, else PATH. PostgreSQL
// refuses to run as root: a test binary running as root starts the server as the
// "postgres" system user when it exists, else as "nobody", with the data directory
// chowned to it. The server dies with the test binary (parent-death signal), and Stop
// shuts it down fast (SIGINT) and removes its directory.
//
// Under POWBROKER_CI=1 a missing PostgreSQL is a failure; elsewhere the tests that need
// it are skipped with one line naming what did not run.
package pgtest
