package mainnet

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

func TestLoad(t *testing.T) {
	blocks, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 14132 {
		t.Fatalf("got %d blocks, want 14132", len(blocks))
	}
	if got, want := blocks[0].Header.BlockHash(), *chaincfg.MainNetParams.GenesisHash; got != want {
		t.Fatalf("block 0 hash %v, want genesis %v", got, want)
	}
	for i := 1; i < len(blocks); i++ {
		if blocks[i].Header.PrevBlock != blocks[i-1].Header.BlockHash() {
			t.Fatalf("block %d does not link to block %d", i, i-1)
		}
	}
	var buf bytes.Buffer
	if err := blocks[170].Header.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), blocks[170].Raw[:]) {
		t.Fatal("Raw differs from the serialized header")
	}
}

func TestReadStopsAtPadding(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want int
	}{
		{"empty", nil, 0},
		{"zero padding", make([]byte, 100), 0},
		{"short", []byte{0xf9, 0xbe}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("got %d blocks, want %d", len(got), tc.want)
			}
		})
	}
	if _, err := Read(bytes.NewReader([]byte{0xf9, 0xbe, 0xb4, 0xd9, 10, 0, 0, 0})); err == nil {
		t.Fatal("a record shorter than a header must fail")
	}
}
