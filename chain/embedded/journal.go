package embedded

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// The journal is the chain's own write-ahead record, kept next to the ffldb database
// because ffldb does not make a block durable when ProcessBlock returns: it caches
// its metadata writes (block index, best state, UTXO set) in memory and writes them to
// leveldb only every five minutes, when the cache is large or at Close. A process that
// is killed loses them, and on the next open ffldb truncates its block files back to
// the last metadata it wrote, so btcd comes back at an older tip (btcd itself then
// downloads the missing blocks from its peers; this chain has none).
//
// The file starts with journalMagic and holds CRC-framed records, appended with one
// write and, where it matters, an fsync before the event is reported:
//
//   - a base record (always first): the network's genesis and the tip that the block
//     database held durably when the journal was last rewritten;
//   - every block handed to ProcessBlock that is new, has a known parent and passes
//     btcd's sanity checks (fsync'd before ProcessBlock), then an "accepted" record
//     when ProcessBlock accepted it;
//   - every transaction handed to the mempool (fsync'd before it is added);
//   - every faucet reservation (fsync'd before Faucet returns).
//
// Open replays the blocks through ProcessBlock (blocks the database still has are
// skipped), then closes the database cleanly, which writes btcd's caches, and rewrites
// the journal from the new base with the mempool transactions and reservations only;
// Close does the same. A torn record at the end (a crash during an append) is dropped;
// a damaged record anywhere else is an error.

const (
	journalName  = "journal"
	journalMagic = "PBCJRNL1"
	// frameHeader is the length (4 bytes), the CRC-32C of type and payload (4) and
	// the record type (1).
	frameHeader = 9
	// maxRecordPayload bounds a record: a whole block at most.
	maxRecordPayload = wire.MaxBlockPayload
	// basePayload is the size of a base record's payload.
	basePayload = 2*chainhash.HashSize + 4
	// reservePayload is an outpoint (36 bytes) and a Unix time (8).
	reservePayload = chainhash.HashSize + 4 + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordType tells what a journal record holds.
type recordType byte

const (
	recBase     recordType = 'H' // genesis hash, base block hash, base height
	recBlock    recordType = 'B' // a serialized block about to be processed
	recAccepted recordType = 'A' // the hash of a block ProcessBlock accepted
	recTx       recordType = 'T' // a serialized transaction about to enter the mempool
	recReserve  recordType = 'R' // a faucet reservation: outpoint and Unix time
)

// errJournalDamaged is wrapped by every error about a journal that cannot be read.
var errJournalDamaged = errors.New("chain journal damaged")

// journalState is what a journal file holds.
type journalState struct {
	genesis    chainhash.Hash
	base       chainhash.Hash
	baseHeight int32
	blocks     []*wire.MsgBlock
	accepted   map[chainhash.Hash]bool
	txs        []*wire.MsgTx
	reserved   map[wire.OutPoint]time.Time
	// dropped is the size of a torn record at the end that was cut off.
	dropped int64
}

func newJournalState(genesis, base chainhash.Hash, height int32) *journalState {
	return &journalState{
		genesis: genesis, base: base, baseHeight: height,
		accepted: make(map[chainhash.Hash]bool), reserved: make(map[wire.OutPoint]time.Time),
	}
}

// journal appends records to the journal file. It is safe for concurrent use.
type journal struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
	// broken is set when an append failed and the file could not be cut back to its
	// last whole record: no record may follow the torn one.
	broken error
}

// readJournal reads the journal at path. A torn record at the end is cut off.
func readJournal(path string) (*journalState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("embedded: open chain journal: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("embedded: chain journal: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<16)
	magic := make([]byte, len(journalMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != journalMagic {
		return nil, fmt.Errorf("embedded: %s is not a chain journal (bad header): %w", path, errJournalDamaged)
	}
	var st *journalState
	off := int64(len(journalMagic))
	for {
		t, payload, n, err := readRecord(r, info.Size()-off)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errTornRecord) && st != nil {
			st.dropped = info.Size() - off
			if err := os.Truncate(path, off); err != nil {
				return nil, fmt.Errorf("embedded: cut the torn end of the chain journal: %w", err)
			}
			break
		}
		if errors.Is(err, errTornRecord) {
			err = fmt.Errorf("its base record is torn: %w", errJournalDamaged)
		}
		if err != nil {
			return nil, fmt.Errorf("embedded: chain journal %s at offset %d: %w", path, off, err)
		}
		if st == nil && t != recBase {
			return nil, fmt.Errorf("embedded: chain journal %s does not start with its base record: %w", path, errJournalDamaged)
		}
		if st, err = st.apply(t, payload); err != nil {
			return nil, fmt.Errorf("embedded: chain journal %s at offset %d: %w", path, off, err)
		}
		off += n
	}
	if st == nil {
		return nil, fmt.Errorf("embedded: chain journal %s has no base record: %w", path, errJournalDamaged)
	}
	return st, nil
}

// errTornRecord is a record cut short at the end of the file: a crash during its append.
var errTornRecord = errors.New("torn record at the end")

// readRecord reads one record; rest is how many bytes the file holds from here. It
// returns io.EOF at a clean end and errTornRecord for an incomplete or garbled last
// record.
func readRecord(r *bufio.Reader, rest int64) (recordType, []byte, int64, error) {
	if rest == 0 {
		return 0, nil, 0, io.EOF
	}
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, 0, errTornRecord
	}
	length := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	sum := binary.LittleEndian.Uint32(hdr[4:8])
	if length < 1 || length > maxRecordPayload+1 {
		if rest <= frameHeader+maxRecordPayload {
			return 0, nil, 0, errTornRecord
		}
		return 0, nil, 0, fmt.Errorf("record length %d out of range: %w", length, errJournalDamaged)
	}
	if length-1 > rest-frameHeader {
		return 0, nil, 0, errTornRecord
	}
	payload := make([]byte, length-1)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, 0, errTornRecord
	}
	crc := crc32.Update(crc32.Checksum(hdr[8:9], castagnoli), castagnoli, payload)
	if crc != sum {
		if int64(frameHeader)+length-1 == rest {
			return 0, nil, 0, errTornRecord // the last record: written partly
		}
		return 0, nil, 0, fmt.Errorf("record checksum mismatch: %w", errJournalDamaged)
	}
	return recordType(hdr[8]), payload, frameHeader + length - 1, nil
}

// apply adds one record to the state (st is nil before the base record).
func (st *journalState) apply(t recordType, p []byte) (*journalState, error) {
	bad := func(what string, err error) (*journalState, error) {
		return nil, fmt.Errorf("%s record: %v: %w", what, err, errJournalDamaged)
	}
	switch t {
	case recBase:
		if st != nil {
			return bad("base", errors.New("a second base record"))
		}
		if len(p) != basePayload {
			return bad("base", fmt.Errorf("%d bytes", len(p)))
		}
		var g, b chainhash.Hash
		copy(g[:], p[:32])
		copy(b[:], p[32:64])
		return newJournalState(g, b, int32(binary.LittleEndian.Uint32(p[64:]))), nil
	case recBlock:
		var mb wire.MsgBlock
		if err := mb.Deserialize(bytes.NewReader(p)); err != nil {
			return bad("block", err)
		}
		st.blocks = append(st.blocks, &mb)
	case recAccepted:
		h, err := chainhash.NewHash(p)
		if err != nil {
			return bad("accepted", err)
		}
		st.accepted[*h] = true
	case recTx:
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(p)); err != nil {
			return bad("transaction", err)
		}
		st.txs = append(st.txs, &tx)
	case recReserve:
		if len(p) != reservePayload {
			return bad("reservation", fmt.Errorf("%d bytes", len(p)))
		}
		op, at := decodeReservation(p)
		st.reserved[op] = at
	default:
		return bad("unknown", fmt.Errorf("type %q", byte(t)))
	}
	return st, nil
}

func encodeBase(genesis, base chainhash.Hash, height int32) []byte {
	p := make([]byte, 0, basePayload)
	p = append(p, genesis[:]...)
	p = append(p, base[:]...)
	return binary.LittleEndian.AppendUint32(p, uint32(height))
}

func encodeReservation(op wire.OutPoint, at time.Time) []byte {
	p := make([]byte, 0, reservePayload)
	p = append(p, op.Hash[:]...)
	p = binary.LittleEndian.AppendUint32(p, op.Index)
	return binary.LittleEndian.AppendUint64(p, uint64(at.Unix()))
}

func decodeReservation(p []byte) (wire.OutPoint, time.Time) {
	var op wire.OutPoint
	copy(op.Hash[:], p[:32])
	op.Index = binary.LittleEndian.Uint32(p[32:36])
	return op, time.Unix(int64(binary.LittleEndian.Uint64(p[36:44])), 0)
}

// frame returns a record as it is written.
func frame(t recordType, payload []byte) []byte {
	out := make([]byte, frameHeader, frameHeader+len(payload))
	binary.LittleEndian.PutUint32(out[0:4], uint32(len(payload)+1))
	out[8] = byte(t)
	crc := crc32.Update(crc32.Checksum(out[8:9], castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(out[4:8], crc)
	return append(out, payload...)
}

// writeJournal replaces the journal at path by one holding st's base, transactions
// and reservations (never blocks), atomically: a new file is written and synced, then
// renamed over the old one and the directory synced. It returns the journal opened
// for appending.
func writeJournal(path string, st *journalState) (*journal, error) {
	var buf bytes.Buffer
	buf.WriteString(journalMagic)
	buf.Write(frame(recBase, encodeBase(st.genesis, st.base, st.baseHeight)))
	for _, tx := range st.txs {
		var raw bytes.Buffer
		if err := tx.Serialize(&raw); err != nil {
			return nil, fmt.Errorf("embedded: journal transaction: %w", err)
		}
		buf.Write(frame(recTx, raw.Bytes()))
	}
	for op, at := range st.reserved {
		buf.Write(frame(recReserve, encodeReservation(op, at)))
	}
	tmp := path + ".new"
	if err := writeSynced(tmp, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("embedded: write chain journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("embedded: replace chain journal: %w", err)
	}
	if err := syncPath(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("embedded: chain journal: %w", err)
	}
	return openJournal(path)
}

// openJournal opens an existing journal for appending.
func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded: open chain journal: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("embedded: chain journal: %w", err)
	}
	return &journal{path: path, f: f, size: info.Size()}, nil
}

// append writes one record in one write; with sync it is on disk when append returns.
// A failed write is cut back so that the file keeps ending with a whole record.
func (j *journal) append(t recordType, payload []byte, sync bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	if j.f == nil {
		return ErrClosed
	}
	rec := frame(t, payload)
	n, err := j.f.Write(rec)
	if err == nil && sync {
		err = j.f.Sync()
	}
	if err != nil {
		if n > 0 {
			if terr := j.f.Truncate(j.size); terr != nil {
				j.broken = fmt.Errorf("embedded: chain journal %s ends with a torn record (%v) that could not be cut off: %w", j.path, err, terr)
			}
		}
		return fmt.Errorf("embedded: write chain journal: %w", err)
	}
	j.size += int64(n)
	return nil
}

// close closes the file; later appends fail with ErrClosed.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// writeSynced creates path with data and syncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// syncPath syncs a file, or a directory so that files created or renamed in it stay.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncTree syncs every file and directory under root: leveldb does not sync its
// writes, and the journal may only forget blocks once the database holding them is on
// disk.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || (!d.IsDir() && !d.Type().IsRegular()) {
			return err
		}
		return syncPath(path)
	})
}
