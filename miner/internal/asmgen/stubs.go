package main

func (g *gen) avx512() {}
func (g *gen) avx2()   {}
