package rpcnode_test

import (
	"context"
	"testing"
	"time"

	"github.com/proofow/powbroker/chain"
)

// Benchmarks against a real btcd on loopback: the cost of one backend call, RPC
// round trips included.

func BenchmarkCheckTx(b *testing.B) {
	e := start(b, segwitHeight, 5*time.Second)
	tx := e.spend(b, 0, e.coinbaseAt(b, 1))
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.node.CheckTx(ctx, tx, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTemplate(b *testing.B) {
	e := start(b, segwitHeight, 5*time.Second)
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.node.Template(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPropose(b *testing.B) {
	e := start(b, segwitHeight, 5*time.Second)
	ctx := context.Background()
	tmpl, err := e.node.Template(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var extra []chain.TemplateTx // 20 zero-fee witness spends
	for h := 1; h <= 20; h++ {
		extra = append(extra, templateTx(e.spend(b, 0, e.coinbaseAt(b, h)), 0))
	}
	block := e.assemble(b, tmpl, extra...)
	b.ResetTimer()
	for b.Loop() {
		if err := e.node.Propose(ctx, block); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTipPoll(b *testing.B) {
	e := start(b, 10, 5*time.Second)
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.node.Tip(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
