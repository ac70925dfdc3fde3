package miner

func kernels() []*kernel { return []*kernel{portableKernel, genericKernel} }
