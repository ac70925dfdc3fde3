//go:build !amd64

package miner

func detect() features { return features{} }

func kernelsFor(features) []*kernel { return []*kernel{portableKernel, genericKernel} }
