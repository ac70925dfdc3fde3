package embedded

import (
	"fmt"
	"math/big"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

// Network names accepted by Params and Open.
const (
	NetRegtest = "regtest"
	NetPrivate = "private"
)

// DefaultPrivateBits is the fixed difficulty of the private network: about 2^26
// (67 million) header hashes per block.
const DefaultPrivateBits uint32 = 0x1d3fffff

// PrivateNetMagic is the network magic of the private network ("priv").
const PrivateNetMagic wire.BitcoinNet = 0x70726976

// privateDefaultPort is the P2P port the private network's parameters advertise. The
// embedded chain never listens; the value only keeps the network distinct from regtest.
const privateDefaultPort = "18555"

// privateCoinbaseMaturity is the coinbase maturity of the private network.
const privateCoinbaseMaturity = 1

// Params returns fresh consensus parameters for net ("regtest" or "private").
// privateBits is the fixed compact difficulty of the private network (0 means
// DefaultPrivateBits); it is ignored for regtest.
//
// Every call returns a new copy: btcd's blockchain.New points the deployment starters
// and enders of the parameters it gets at its own chain, so two chains in one process
// must never share them (and the package-level chaincfg values are never mutated).
func Params(net string, privateBits uint32) (*chaincfg.Params, error) {
	switch net {
	case NetRegtest:
		p := copyParams(&chaincfg.RegressionNetParams)
		return p, nil
	case NetPrivate:
		if privateBits == 0 {
			privateBits = DefaultPrivateBits
		}
		if err := checkBits(privateBits); err != nil {
			return nil, err
		}
		p := copyParams(&chaincfg.RegressionNetParams)
		p.Name = NetPrivate
		p.Net = PrivateNetMagic
		p.DefaultPort = privateDefaultPort
		p.PowLimit = blockchain.CompactToBig(privateBits)
		p.PowLimitBits = privateBits
		p.PoWNoRetargeting = true
		p.ReduceMinDifficulty = false
		p.CoinbaseMaturity = privateCoinbaseMaturity
		// The genesis block is regtest's with the private bits and the magic as nonce:
		// its hash then differs from regtest's and from a private chain of another
		// difficulty, so a data directory can never be opened with the wrong
		// parameters. Nobody checks the genesis block's proof of work.
		genesis := *chaincfg.RegressionNetParams.GenesisBlock
		genesis.Header.Bits = privateBits
		genesis.Header.Nonce = uint32(PrivateNetMagic)
		genesis.Transactions = append([]*wire.MsgTx(nil), genesis.Transactions...)
		p.GenesisBlock = &genesis
		hash := genesis.BlockHash()
		p.GenesisHash = &hash
		return p, nil
	default:
		return nil, fmt.Errorf("embedded: unknown network %q (want %q or %q)", net, NetRegtest, NetPrivate)
	}
}

// checkBits validates the compact difficulty of the private network: canonical
// encoding, positive, and not easier than regtest's limit.
func checkBits(bits uint32) error {
	t := blockchain.CompactToBig(bits)
	if t.Sign() <= 0 {
		return fmt.Errorf("embedded: private bits %#08x encode a target that is not positive", bits)
	}
	if blockchain.BigToCompact(t) != bits {
		return fmt.Errorf("embedded: private bits %#08x are not in canonical compact form (want %#08x)",
			bits, blockchain.BigToCompact(t))
	}
	if t.Cmp(chaincfg.RegressionNetParams.PowLimit) > 0 {
		return fmt.Errorf("embedded: private bits %#08x are easier than regtest's limit %#08x",
			bits, chaincfg.RegressionNetParams.PowLimitBits)
	}
	return nil
}

// copyParams copies p deeply enough that nothing blockchain.New or this package
// changes is shared with p: the limit, the genesis hash and the deployment clocks.
func copyParams(p *chaincfg.Params) *chaincfg.Params {
	c := *p
	c.PowLimit = new(big.Int).Set(p.PowLimit)
	h := *p.GenesisHash
	c.GenesisHash = &h
	c.DNSSeeds = nil
	c.Checkpoints = append([]chaincfg.Checkpoint(nil), p.Checkpoints...)
	for i := range c.Deployments {
		d := &c.Deployments[i]
		if s, ok := d.DeploymentStarter.(*chaincfg.MedianTimeDeploymentStarter); ok {
			d.DeploymentStarter = chaincfg.NewMedianTimeDeploymentStarter(s.StartTime())
		}
		if e, ok := d.DeploymentEnder.(*chaincfg.MedianTimeDeploymentEnder); ok {
			d.DeploymentEnder = chaincfg.NewMedianTimeDeploymentEnder(e.EndTime())
		}
	}
	return &c
}
