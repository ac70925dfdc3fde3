package netparams

import (
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

func TestTestnet4Genesis(t *testing.T) {
	p := Testnet4Params()
	if got := p.GenesisHash.String(); got != Testnet4GenesisHash {
		t.Fatalf("testnet4 genesis %s, want %s", got, Testnet4GenesisHash)
	}
	if got := p.GenesisBlock.Header.MerkleRoot.String(); got != "7aa0a7ae1e223414cb807e40cd57e667b718e42aaf9306db9102fe28912b7b4e" {
		t.Fatalf("testnet4 genesis merkle root %s", got)
	}
	if p.Net == chaincfg.TestNet3Params.Net || p.Bech32HRPSegwit != "tb" {
		t.Fatalf("testnet4 magic %v hrp %s", p.Net, p.Bech32HRPSegwit)
	}
}

func TestSignetMagic(t *testing.T) {
	for _, tc := range []struct {
		name, challenge string
		magic           string // message start bytes, in wire order
	}{
		// BIP 325's example, the default signet's challenge.
		{"default", "512103ad5e0edad18cb1f0fc0d28a3d4f1f3e445640337489abb10404f2d1e086be430210359ef5021964fe22d6f8e05b2463c9540ce96883fe3b278760f048f5189f2e6c452ae", "0a03cf40"},
		{"bip325 example", "512103ad5e0edad18cb1f0fc0d28a3d4f1f3e445640337489abb10404f2d1e086be43051ae", "7ec653a5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseChallenge(tc.challenge)
			if err != nil {
				t.Fatal(err)
			}
			m := SignetMagic(c)
			b := []byte{byte(m), byte(m >> 8), byte(m >> 16), byte(m >> 24)}
			if hex.EncodeToString(b) != tc.magic {
				t.Fatalf("magic %x, want %s", b, tc.magic)
			}
		})
	}
	if SignetMagic(defaultSignetChallenge()) != chaincfg.SigNetParams.Net {
		t.Fatal("the default challenge's magic is not btcd's signet magic")
	}
	// A long challenge: the length is a CompactSize (fd xx xx), as Core writes it.
	long := make([]byte, 300)
	if SignetMagic(long) == wire.BitcoinNet(0) {
		t.Fatal("zero magic")
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		name, challenge, id, genesis string
		wantErr                      bool
	}{
		{name: "regtest", id: "regtest", genesis: chaincfg.RegressionNetParams.GenesisHash.String()},
		{name: "main", id: "mainnet", genesis: chaincfg.MainNetParams.GenesisHash.String()},
		{name: "testnet4", id: "testnet4", genesis: Testnet4GenesisHash},
		{name: "signet", id: "signet", genesis: chaincfg.SigNetParams.GenesisHash.String()},
		{name: "signet", challenge: "51", id: "signet-", genesis: chaincfg.SigNetParams.GenesisHash.String()},
		{name: "regtest", challenge: "51", wantErr: true},
		{name: "private", wantErr: true},
	} {
		var c []byte
		if tc.challenge != "" {
			c, _ = ParseChallenge(tc.challenge)
		}
		n, err := Lookup(tc.name, c)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s %s: no error", tc.name, tc.challenge)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n.Params.GenesisHash.String() != tc.genesis || len(n.ID()) < len(tc.id) || n.ID()[:len(tc.id)] != tc.id {
			t.Errorf("%s %s: id %s genesis %s", tc.name, tc.challenge, n.ID(), n.Params.GenesisHash)
		}
		if n.Name == Signet && len(n.Challenge) == 0 {
			t.Errorf("signet without a challenge")
		}
	}
	for _, bad := range []string{"", "zz", "4c"} {
		if _, err := ParseChallenge(bad); err == nil {
			t.Errorf("challenge %q accepted", bad)
		}
	}
}
