package chain

import (
	"math"
	"math/big"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Diff1Target returns the target of difficulty 1: 0xFFFF * 2^208 (compact 0x1d00ffff).
func Diff1Target() *big.Int { return blockchain.CompactToBig(0x1d00ffff) }

// CompactToTarget expands compact bits into a target.
func CompactToTarget(bits uint32) *big.Int { return blockchain.CompactToBig(bits) }

// TargetDifficulty returns diff1 / target as a float (fractional below difficulty 1).
func TargetDifficulty(target *big.Int) float64 {
	if target.Sign() <= 0 {
		return math.Inf(1)
	}
	d, _ := new(big.Rat).SetFrac(Diff1Target(), target).Float64()
	return d
}

// DifficultyTarget returns the target of difficulty d: diff1 / d, capped at 2^256-1.
func DifficultyTarget(d float64) *big.Int {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	if d <= 0 || math.IsNaN(d) {
		return max
	}
	r := new(big.Rat).SetFrac(Diff1Target(), big.NewInt(1))
	dr := new(big.Rat)
	if dr.SetFloat64(d) == nil {
		return max
	}
	r.Quo(r, dr)
	t := new(big.Int).Quo(r.Num(), r.Denom())
	if t.Cmp(max) > 0 {
		return max
	}
	return t
}

// HashDifficulty is the difficulty a hash (internal byte order) achieves: diff1 / hash,
// in float arithmetic (it runs once per accepted share; no big numbers).
func HashDifficulty(hash *chainhash.Hash) float64 {
	v := 0.0
	for i := len(hash) - 1; i >= 0; i-- {
		v = v*256 + float64(hash[i]) // the hash is a little-endian integer
	}
	if v == 0 {
		return math.Inf(1)
	}
	return math.Ldexp(0xFFFF, 208) / v
}

// MeetsTarget tells whether hash (internal byte order, read as a little-endian integer)
// is at or below target.
func MeetsTarget(hash *chainhash.Hash, target *big.Int) bool {
	return blockchain.HashToBig(hash).Cmp(target) <= 0
}

// ExpectedHashes is the expected number of header hashes to find one hash meeting
// target: 2^256 / (target+1).
func ExpectedHashes(target *big.Int) float64 {
	w := blockchain.CalcWork(blockchain.BigToCompact(target))
	f, _ := new(big.Float).SetInt(w).Float64()
	return f
}
