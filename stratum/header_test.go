package stratum_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/proofow/powbroker/miner/mainnet"
	"github.com/proofow/powbroker/stratum"
)

// branchOf returns the merkle branch of the coinbase, from btcd's merkle tree store.
func branchOf(txs []*wire.MsgTx) [][32]byte {
	utxs := make([]*btcutil.Tx, len(txs))
	for i, tx := range txs {
		utxs[i] = btcutil.NewTx(tx)
	}
	st := blockchain.BuildMerkleTreeStore(utxs, false)
	var out [][32]byte
	off := 0
	for w := len(st)/2 + 1; w > 1; w /= 2 {
		s := st[off+1]
		if s == nil {
			s = st[off]
		}
		out = append(out, *s)
		off += w
	}
	return out
}

// roundTrip sends a notify and a submit through their JSON wire forms and the
// package's parsers, as the server and a miner do.
func roundTrip(t *testing.T, n *stratum.Notify, sub *stratum.Submit) (*stratum.Notify, *stratum.Submit, []json.RawMessage) {
	t.Helper()
	line, _ := json.Marshal(map[string]any{"id": nil, "method": "mining.notify", "params": n.Params()})
	req, err := stratum.ParseRequest(line)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := stratum.ParseNotify(req.Params)
	if err != nil {
		t.Fatal(err)
	}
	line, _ = json.Marshal(map[string]any{"id": 4, "method": "mining.submit", "params": sub.Params()})
	sreq, err := stratum.ParseRequest(line)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := stratum.ParseSubmit(sreq.Params)
	if err != nil {
		t.Fatal(err)
	}
	return n2, s2, req.Params
}

// TestMainnetHeaders: real mainnet blocks, their coinbase split into coinb1 ‖ en1 ‖ en2
// ‖ coinb2 inside its script and their merkle branch, sent as notify and submit
// fields, rebuild the real header and the real block hash.
func TestMainnetHeaders(t *testing.T) {
	blocks, err := mainnet.Load()
	if err != nil {
		t.Fatal(err)
	}
	tested := map[int]bool{}
	for _, b := range blocks {
		n := len(b.Block.Transactions)
		cb := b.Block.Transactions[0]
		if n < 2 || tested[min(n, 5)] || len(cb.TxIn[0].SignatureScript) < 8 {
			continue
		}
		tested[min(n, 5)] = true
		var raw bytes.Buffer
		if err := cb.SerializeNoWitness(&raw); err != nil {
			t.Fatal(err)
		}
		script := cb.TxIn[0].SignatureScript
		start := 4 + 1 + 36 + wire.VarIntSerializeSize(uint64(len(script)))
		off := start + len(script) - 8
		all := raw.Bytes()
		en1, en2 := all[off:off+4], all[off+4:off+8]
		h := b.Header
		notify := &stratum.Notify{JobID: "1a", PrevHash: h.PrevBlock, Coinb1: all[:off], Coinb2: all[off+8:],
			Branch: branchOf(b.Block.Transactions), Version: uint32(h.Version), Bits: h.Bits,
			NTime: uint32(h.Timestamp.Unix()), Clean: true}
		sub := &stratum.Submit{Worker: "w", JobID: "1a", Extranonce2: en2, NTime: uint32(h.Timestamp.Unix()), Nonce: h.Nonce}
		n2, s2, params := roundTrip(t, notify, sub)
		got := n2.Header(en1, s2.Extranonce2, n2.Version, s2.NTime, s2.Nonce)
		if got != b.Raw {
			t.Fatalf("block %d (%d txs): rebuilt header %x, real %x", b.Height, n, got, b.Raw)
		}
		if hash := chainhash.DoubleHashH(got[:]); hash != h.BlockHash() {
			t.Fatalf("block %d: hash %s, real %s", b.Height, hash, h.BlockHash())
		}
		if ind := independentHeader(t, params, en1, s2.Extranonce2, uint32(h.Version), s2.NTime, s2.Nonce); ind != b.Raw {
			t.Fatalf("block %d: independent rebuild differs", b.Height)
		}
		if len(tested) == 4 {
			break
		}
	}
	if len(tested) < 4 {
		t.Fatalf("tested blocks with %d transaction counts, want 4 (2, 3, 4 and 5 or more)", len(tested))
	}
}

// TestBIP310 uses the BIP 310 text's values: the rolled version follows
// (job_version & ~mask) | (bits & mask), and the header with it matches btcd's.
func TestBIP310(t *testing.T) {
	tests := []struct {
		job, bits, mask, want uint32
	}{
		{0x20000000, 0x08000000, 0x18000000, 0x28000000}, // mask "18000000" of the BIP's example result
		{0x20000000, 0x00003000, 0x00003000, 0x20003000}, // mask "00003000" of its set_version_mask example
		{0x20000000, 0xffffffff, 0x1fffe000, 0x3fffe000}, // the requested "1fffe000"
		{0x20000000, 0x00000000, 0x1fffe000, 0x20000000},
		{0x3fffe000, 0x00000000, 0x1fffe000, 0x20000000}, // bits inside the mask come from the miner only
	}
	blocks, err := mainnet.Load()
	if err != nil {
		t.Fatal(err)
	}
	b := blocks[170]
	var raw bytes.Buffer
	_ = b.Block.Transactions[0].SerializeNoWitness(&raw)
	all := raw.Bytes()
	for _, tc := range tests {
		v := stratum.RollVersion(tc.job, tc.bits, tc.mask)
		if v != tc.want {
			t.Errorf("RollVersion(%08x, %08x, %08x) = %08x, want %08x", tc.job, tc.bits, tc.mask, v, tc.want)
		}
		n := &stratum.Notify{PrevHash: b.Header.PrevBlock, Coinb1: all[:10], Coinb2: all[18:],
			Branch: branchOf(b.Block.Transactions), Version: tc.job, Bits: b.Header.Bits, NTime: uint32(b.Header.Timestamp.Unix())}
		got := n.Header(all[10:14], all[14:18], v, n.NTime, b.Header.Nonce)
		want := b.Header
		want.Version = int32(tc.want)
		var buf bytes.Buffer
		_ = want.Serialize(&buf)
		if !bytes.Equal(got[:], buf.Bytes()) {
			t.Errorf("header with version %08x differs from btcd's", tc.want)
		}
	}
	// A server whose mask is the BIP's "18000000" answers its example request with the
	// example result.
	cfg := testStratumConfig()
	cfg.VersionMask = 0x18000000
	e := newEnv(t, envOpts{stratum: cfg})
	c := e.dial()
	c.write(`{"method": "mining.configure", "id": 1, "params": [["minimum-difficulty", "version-rolling"], {"minimum-difficulty.value": 2048, "version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]}` + "\n")
	m := c.mustNext()
	var got, want map[string]any
	_ = json.Unmarshal(m.Result, &got)
	_ = json.Unmarshal([]byte(`{"version-rolling": true, "version-rolling.mask": "18000000", "minimum-difficulty": true}`), &want)
	if string(m.Error) != "null" || len(got) != len(want) {
		t.Fatalf("configure: %s", m.raw)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("configure: %s, want %v", m.raw, want)
		}
	}
}
