package embedded

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// TestJournalRecords writes a journal, appends records and damages its end or middle
// in the ways a crash or a disk can: a torn end is cut off, anything else is an error.
func TestJournalRecords(t *testing.T) {
	genesis, base := chainhash.Hash{1}, chainhash.Hash{2}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{3}, Index: 1}, []byte{1, 2}, nil))
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	var raw bytes.Buffer
	_ = tx.Serialize(&raw)
	op := wire.OutPoint{Hash: chainhash.Hash{4}, Index: 7}
	at := time.Unix(1_700_000_000, 0)

	write := func(t *testing.T) (string, int64) {
		path := filepath.Join(t.TempDir(), journalName)
		j, err := writeJournal(path, newJournalState(genesis, base, 5))
		if err != nil {
			t.Fatal(err)
		}
		if err := j.append(recTx, raw.Bytes(), true); err != nil {
			t.Fatal(err)
		}
		size := j.size
		if err := j.append(recReserve, encodeReservation(op, at), false); err != nil {
			t.Fatal(err)
		}
		if err := j.close(); err != nil {
			t.Fatal(err)
		}
		return path, size
	}
	tests := []struct {
		name     string
		damage   func(data []byte, lastStart int64) []byte
		wantErr  string
		wantTxs  int
		wantRes  int
		wantDrop bool
	}{
		{name: "intact", damage: func(d []byte, _ int64) []byte { return d }, wantTxs: 1, wantRes: 1},
		{name: "last record cut short", damage: func(d []byte, _ int64) []byte { return d[:len(d)-3] }, wantTxs: 1, wantDrop: true},
		{name: "last record header only", damage: func(d []byte, s int64) []byte { return d[:s+4] }, wantTxs: 1, wantDrop: true},
		{name: "last record garbled", damage: func(d []byte, _ int64) []byte { d[len(d)-1] ^= 0xff; return d }, wantTxs: 1, wantDrop: true},
		{name: "zeros appended", damage: func(d []byte, _ int64) []byte { return append(d, make([]byte, 20)...) }, wantTxs: 1, wantRes: 1, wantDrop: true},
		{name: "middle record garbled", damage: func(d []byte, s int64) []byte { d[s-2] ^= 0xff; return d }, wantErr: "checksum"},
		{name: "bad magic", damage: func(d []byte, _ int64) []byte { d[0] = 'X'; return d }, wantErr: "not a chain journal"},
		{name: "no base record", damage: func(d []byte, _ int64) []byte { return d[:len(journalMagic)] }, wantErr: "no base record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, lastStart := write(t)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(data, lastStart), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := readJournal(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, errJournalDamaged) {
					t.Fatalf("err = %v, want %q (damaged)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.genesis != genesis || st.base != base || st.baseHeight != 5 {
				t.Errorf("base %s %s %d", st.genesis, st.base, st.baseHeight)
			}
			if len(st.txs) != tt.wantTxs || len(st.reserved) != tt.wantRes || (st.dropped > 0) != tt.wantDrop {
				t.Fatalf("txs %d reserved %d dropped %d", len(st.txs), len(st.reserved), st.dropped)
			}
			if tt.wantTxs > 0 && st.txs[0].TxHash() != tx.TxHash() {
				t.Errorf("tx %s, want %s", st.txs[0].TxHash(), tx.TxHash())
			}
			if got, ok := st.reserved[op]; tt.wantRes > 0 && (!ok || !got.Equal(at)) {
				t.Errorf("reservation %v %v", got, ok)
			}
			// A torn end is cut off for good: reading again finds a clean end.
			if again, err := readJournal(path); err != nil || again.dropped != 0 {
				t.Fatalf("second read: %v, dropped %d", err, again.dropped)
			}
		})
	}
}

// TestOpenDamagedDataDir: a data directory whose chain cannot be recovered is an error
// that says what is wrong, never a new chain.
func TestOpenDamagedDataDir(t *testing.T) {
	ctx := context.Background()
	open := func(dir string) (*Chain, error) {
		return Open(ctx, Config{DataDir: dir, Net: "private", PrivateBits: testBits, Threads: 1})
	}
	// newDir makes a chain a few blocks long, closed cleanly, and returns its directory.
	newDir := func(t *testing.T, blocks int) string {
		dir := t.TempDir()
		c, err := open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Generate(ctx, blocks, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	chainDir := func(dir string) string { return filepath.Join(dir, "private") }
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr string
	}{
		{name: "block database missing", wantErr: "block database", damage: func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(chainDir(dir), dbDirName)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "journal garbled", wantErr: "checksum", damage: func(t *testing.T, dir string) {
			path := filepath.Join(chainDir(dir), journalName)
			data, _ := os.ReadFile(path)
			data[len(journalMagic)+frameHeader+3] ^= 0xff
			// A second record behind it makes this damage, not a torn end.
			data = append(data, frame(recAccepted, make([]byte, 32))...)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "database older than the journal", wantErr: "lost blocks", damage: func(t *testing.T, dir string) {
			// The database of a shorter chain under the journal of a longer one.
			short := newDir(t, 0)
			db := filepath.Join(chainDir(dir), dbDirName)
			if err := os.RemoveAll(db); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("cp", "-a", filepath.Join(chainDir(short), dbDirName), db).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
		}},
		{name: "genesis only and no journal", wantErr: "holds only the genesis block", damage: func(t *testing.T, dir string) {
			if err := os.RemoveAll(chainDir(dir)); err != nil {
				t.Fatal(err)
			}
			db, err := openDB(filepath.Join(chainDir(dir), dbDirName), PrivateNetMagic, true)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDir(t, 2)
			tt.damage(t, dir)
			c, err := open(dir)
			if err == nil {
				c.Close()
				t.Fatal("a damaged data directory opened")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestOpenAdoptsDatabaseWithoutJournal: a block database from before the journal is
// kept, with a journal started at its tip.
func TestOpenAdoptsDatabaseWithoutJournal(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, dir, "private", testBits)
	if _, err := c.Generate(context.Background(), 2, nil); err != nil {
		t.Fatal(err)
	}
	tip := mustTip(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "private", journalName)); err != nil {
		t.Fatal(err)
	}
	c2 := openTest(t, dir, "private", testBits)
	if got := mustTip(t, c2); got != tip {
		t.Fatalf("tip %+v, want %+v", got, tip)
	}
	if _, err := os.Stat(filepath.Join(dir, "private", journalName)); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointWhileRunning: every CheckpointBlocks blocks the journal starts again
// from the tip; the mempool and the reservations stay, and the chain reopens at the
// same tip.
func TestCheckpointWhileRunning(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := Open(ctx, Config{DataDir: dir, Net: "private", PrivateBits: testBits, Threads: 1, CheckpointBlocks: 3})
	if err != nil {
		t.Fatal(err)
	}
	handed := mustFaucet(t, c, 1e6, 0)
	pooled := mustFaucet(t, c, 2e6, 0)
	for i := 0; i < 7; i++ {
		// Side-chain blocks would take the mempool transaction; GenerateOn the tip
		// with no transactions keeps it in the mempool.
		if _, err := c.GenerateOn(ctx, mustTip(t, c).Hash, 1, nil); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if err := c.AcceptToMempool(ctx, pooled); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := readJournal(filepath.Join(dir, "private", journalName))
	if err != nil {
		t.Fatal(err)
	}
	tip := mustTip(t, c)
	if len(st.blocks) >= 3 || st.baseHeight < tip.Height-2 {
		t.Fatalf("journal: %d blocks, base at %d; tip at %d", len(st.blocks), st.baseHeight, tip.Height)
	}
	if ids := c.MempoolTxids(); len(ids) != 1 || ids[0] != pooled.TxHash() {
		t.Fatalf("mempool after checkpoints: %v", ids)
	}
	if again := mustFaucet(t, c, 1e6, 0); again.TxIn[0].PreviousOutPoint == handed.TxIn[0].PreviousOutPoint {
		t.Fatal("a reservation was lost at a checkpoint")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := openTest(t, dir, "private", testBits)
	if got := mustTip(t, c2); got != tip {
		t.Fatalf("reopened at %+v, want %+v", got, tip)
	}
}
