package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/broker/internal/bounded"
	"github.com/proofow/powbroker/chain"
	"github.com/proofow/powbroker/miner"
)

// ShareChecker makes the checks of the share path that need only the job: extranonce
// sizes, header time, the header rebuilt from the job and the extranonces, its hash
// against the share target. The broker runs it on every share; a Stratum gateway runs
// the same on the jobs the broker published, before sending a share on. Safe for
// concurrent use.
type ShareChecker struct {
	targets *bounded.Map[float64, miner.Target] // share difficulty -> target
}

// NewShareChecker returns a checker with an empty target cache.
func NewShareChecker() *ShareChecker {
	return &ShareChecker{targets: bounded.New[float64, miner.Target](4096)}
}

// Check checks w against job and returns the header and its hash (zero when the share
// was refused before hashing). Errors are *Error values (bad-share, low-difficulty).
func (c *ShareChecker) Check(job *Job, w *Work) (miner.Header, [32]byte, error) {
	if len(w.Extranonce1) != chain.Extranonce1Size || len(w.Extranonce2) != job.Assembly.Extranonce2Size {
		return miner.Header{}, [32]byte{}, problem(KindBadShare, "extranonce sizes %d+%d, want %d+%d", len(w.Extranonce1), len(w.Extranonce2), chain.Extranonce1Size, job.Assembly.Extranonce2Size)
	}
	if w.NTime < job.MinTime {
		return miner.Header{}, [32]byte{}, problem(KindBadShare, "header time %d is before the job's minimum %d", w.NTime, job.MinTime)
	}
	if limit := time.Now().Add(maxFutureTime).Unix(); int64(w.NTime) > limit {
		return miner.Header{}, [32]byte{}, problem(KindBadShare, "header time %d is more than 2 hours in the future", w.NTime)
	}
	if !(w.ShareDiff > 0) {
		return miner.Header{}, [32]byte{}, problem(KindBadShare, "share difficulty %g is not positive", w.ShareDiff)
	}
	version := w.Version
	if version == 0 {
		version = job.Version
	}
	hdr := job.Header(w.Extranonce1, w.Extranonce2, version, w.NTime, w.Nonce)
	sum := miner.Sum(&hdr)
	target := c.Target(w.ShareDiff)
	if !target.Meets(&sum) {
		h := chainhash.Hash(sum)
		return hdr, sum, problem(KindLowDifficulty, "hash %s reaches difficulty %.6g, below the share difficulty %.6g", h, chain.HashDifficulty(&h), w.ShareDiff)
	}
	return hdr, sum, nil
}

// Target is the target of a share difficulty, cached: sessions use few distinct ones.
func (c *ShareChecker) Target(d float64) miner.Target {
	if t, ok := c.targets.Get(d); ok {
		return t
	}
	t := miner.TargetFromBig(chain.DifficultyTarget(d))
	c.targets.Put(d, t)
	return t
}

// RemoteJobParts is what a broker publishes about a job for share checkers elsewhere.
type RemoteJobParts struct {
	ID              string
	PrevHash        chainhash.Hash
	Height          int32
	Version         int32
	Bits            uint32
	NTime, MinTime  uint32
	Coinb1, Coinb2  []byte
	Branch          []chainhash.Hash
	Extranonce2Size int
	Orders          []string
	Clean           bool
}

// Parts is the job as a broker publishes it.
func (j *Job) Parts() RemoteJobParts {
	return RemoteJobParts{ID: j.ID, PrevHash: j.PrevHash, Height: j.Height, Version: j.Version, Bits: j.Bits,
		NTime: j.NTime, MinTime: j.MinTime, Coinb1: j.Assembly.Coinb1, Coinb2: j.Assembly.Coinb2,
		Branch: j.Assembly.Branch, Extranonce2Size: j.Assembly.Extranonce2Size, Orders: j.Orders, Clean: j.Clean}
}

// RemoteJob rebuilds a published job for checking shares with a ShareChecker: it has
// no template and no transactions, so it cannot assemble blocks.
func RemoteJob(p RemoteJobParts) *Job {
	target := chain.CompactToTarget(p.Bits)
	return &Job{
		ID: p.ID, PrevHash: p.PrevHash, Height: p.Height, Version: p.Version, Bits: p.Bits,
		NTime: p.NTime, MinTime: p.MinTime, NetTarget: target, netTarget: miner.TargetFromBig(target),
		Assembly: &chain.Assembly{Coinb1: p.Coinb1, Coinb2: p.Coinb2, Branch: p.Branch, Extranonce2Size: p.Extranonce2Size},
		Orders:   p.Orders, Clean: p.Clean, Created: time.Now(), roots: newRootCache(),
	}
}

// ExtranonceBlock reserves n extranonce1 values under a one-byte prefix (1..255) for a
// Stratum gateway: 4-byte values prefix‖x never handed out before, across restarts and
// brokers sharing the store (the broker's own sessions use prefix 0). n divides 2^24.
func (b *Broker) ExtranonceBlock(ctx context.Context, prefix byte, n uint32) (uint32, error) {
	if prefix == 0 || n == 0 || (1<<24)%n != 0 {
		return 0, fmt.Errorf("extranonce block: prefix %d, size %d", prefix, n)
	}
	v, err := b.store.Reserve(ctx, fmt.Sprintf("extranonce1/%d", prefix), uint64(n))
	if err != nil {
		return 0, fmt.Errorf("reserve extranonce block: %w", err)
	}
	return uint32(prefix)<<24 | uint32(v%(1<<24)), nil
}
