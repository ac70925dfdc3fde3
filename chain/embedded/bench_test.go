package embedded

import (
	"context"
	"testing"
)

// BenchmarkOpenFresh measures a first start: creating the database and mining the
// initial blocks (101 on regtest, 2 on the private network at its default bits).
func BenchmarkOpenFresh(b *testing.B) {
	for _, bb := range []struct {
		name string
		net  string
		bits uint32
	}{
		{"regtest", "regtest", 0},
		{"private-0x1f00ffff", "private", testBits},
		{"private-default", "private", 0},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c, err := Open(context.Background(), Config{DataDir: b.TempDir(), Net: bb.net, PrivateBits: bb.bits})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkReopen measures opening an existing regtest chain.
func BenchmarkReopen(b *testing.B) {
	dir := b.TempDir()
	c, err := Open(context.Background(), Config{DataDir: dir, Net: "regtest"})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := Open(context.Background(), Config{DataDir: dir, Net: "regtest"})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkGenerateRegtest measures mining one regtest block on the tip.
func BenchmarkGenerateRegtest(b *testing.B) {
	c, err := Open(context.Background(), Config{DataDir: b.TempDir(), Net: "regtest"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	if _, err := c.Generate(context.Background(), b.N, nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCheckTx measures checking a signed one-input faucet transaction.
func BenchmarkCheckTx(b *testing.B) {
	c, err := Open(context.Background(), Config{DataDir: b.TempDir(), Net: "regtest"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tx, err := c.Faucet(context.Background(), 1e6, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.CheckTx(context.Background(), tx, nil); err != nil {
			b.Fatal(err)
		}
	}
}
