//go:build !amd64

package miner

func kernels() []*kernel { return []*kernel{portableKernel, genericKernel} }
