// Package buildinfo reads what the Go toolchain recorded in the binary: the module
// version, the VCS revision and time, the Go version and the dependency versions
// (runtime/debug.ReadBuildInfo). The --version flags, the version commands and the
// build_info metric all print it.
package buildinfo
