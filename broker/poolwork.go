package broker

import (
	"context"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/miner"
)

// SubmitPoolBlock takes a header found by the pool's own worker, which mines for no
// order (serve --pool-threads on the test networks): it must meet the network target,
// and is then submitted as a block like a share's block. Nothing is credited and no
// share is recorded; the orders the job carries are mined when the chain accepts it.
func (b *Broker) SubmitPoolBlock(ctx context.Context, w Work) (ShareResult, error) {
	var res ShareResult
	job := b.jobs.get(w.JobID)
	if job == nil {
		return res, problem(KindStaleJob, "job %q is unknown or too old", w.JobID)
	}
	version := w.Version
	if version == 0 {
		version = job.Version
	}
	hdr := job.Header(w.Extranonce1, w.Extranonce2, version, w.NTime, w.Nonce)
	sum := miner.Sum(&hdr)
	res.Hash = chainhash.Hash(sum)
	if !job.netTarget.Meets(&sum) {
		return res, problem(KindLowDifficulty, "hash %s does not meet the network target", res.Hash)
	}
	if job.solved.Load() || job.PrevHash != b.Tip().Hash {
		return res, problem(KindStaleJob, "job %s is solved or no longer on the tip", job.ID)
	}
	res.Block = true
	res.BlockAccepted = b.submitBlock(ctx, job, w, &hdr)
	if res.BlockAccepted {
		job.solved.Store(true)
	}
	return res, nil
}

// CountPoolHashes adds hashes of the pool's own worker to the pool hashrate.
func (b *Broker) CountPoolHashes(n uint64) { b.rate.add(float64(n) / (1 << 32)) }
