package netparams

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Testnet4GenesisHash is the genesis block hash of testnet4 (BIP 94).
const Testnet4GenesisHash = "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043"

// MaxChallengeSize bounds a signet challenge script (a standard script's limit).
const MaxChallengeSize = 10_000

// Names of the networks, as the broker's --net flag spells them.
const (
	Mainnet  = "mainnet"
	Testnet3 = "testnet3"
	Testnet4 = "testnet4"
	Signet   = "signet"
	Regtest  = "regtest"
	Simnet   = "simnet"
)

// Canonical returns the broker's name for a network name in btcd's or Bitcoin Core's
// spelling ("main", "test", ...), or "" when it is unknown.
func Canonical(name string) string {
	switch strings.ToLower(name) {
	case "regtest":
		return Regtest
	case "testnet", "testnet3", "test":
		return Testnet3
	case "testnet4":
		return Testnet4
	case "signet":
		return Signet
	case "mainnet", "main":
		return Mainnet
	case "simnet":
		return Simnet
	}
	return ""
}

// ByName returns the parameters of a network. challenge, the signet block challenge
// script, is only allowed for signet; empty there means the default signet.
func ByName(name string, challenge []byte) (*chaincfg.Params, error) {
	canon := Canonical(name)
	if len(challenge) > 0 && canon != Signet {
		return nil, fmt.Errorf("a signet challenge is only valid with network signet, not %q", name)
	}
	var p chaincfg.Params
	switch canon {
	case Regtest:
		p = chaincfg.RegressionNetParams
	case Testnet3:
		p = chaincfg.TestNet3Params
	case Testnet4:
		return Testnet4Params(), nil
	case Signet:
		if len(challenge) > 0 {
			return SignetParams(challenge)
		}
		p = chaincfg.SigNetParams
	case Mainnet:
		p = chaincfg.MainNetParams
	case Simnet:
		p = chaincfg.SimNetParams
	default:
		return nil, fmt.Errorf("unknown network %q (want mainnet, testnet3, testnet4, signet or regtest)", name)
	}
	return &p, nil
}

// ParseChallenge decodes a signet challenge given in hex.
func ParseChallenge(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("signet challenge %.20q is not hex: %w", s, err)
	}
	if len(b) == 0 || len(b) > MaxChallengeSize {
		return nil, fmt.Errorf("signet challenge of %d bytes: want 1..%d", len(b), MaxChallengeSize)
	}
	if _, err := txscript.DisasmString(b); err != nil {
		return nil, fmt.Errorf("signet challenge is not a valid script: %w", err)
	}
	return b, nil
}

// SignetMagic is a signet's network magic (message start) per BIP 325: the first four
// bytes of the double SHA-256 of the challenge serialized with its length prefix, read
// little-endian as btcd's wire.BitcoinNet values are.
func SignetMagic(challenge []byte) wire.BitcoinNet {
	var buf bytes.Buffer
	_ = wire.WriteVarBytes(&buf, 0, challenge) // a CompactSize length, as Core serializes it
	h := chainhash.DoubleHashB(buf.Bytes())
	return wire.BitcoinNet(binary.LittleEndian.Uint32(h[:4]))
}

// SignetParams returns the parameters of the custom signet with the given challenge:
// the default signet's genesis block and rules with the magic derived from the
// challenge (btcd's chaincfg.CustomSignetParams, with the length written as a
// CompactSize so that challenges of 253 bytes or more get Core's magic too).
func SignetParams(challenge []byte) (*chaincfg.Params, error) {
	if len(challenge) == 0 || len(challenge) > MaxChallengeSize {
		return nil, fmt.Errorf("signet challenge of %d bytes: want 1..%d", len(challenge), MaxChallengeSize)
	}
	p := chaincfg.CustomSignetParams(append([]byte(nil), challenge...), nil)
	p.Net = SignetMagic(challenge)
	return &p, nil
}

// Network is a chain the broker mines on: its parameters and, on a signet, the block
// challenge (BIP 325) that every block's solution must satisfy.
type Network struct {
	Name      string // Mainnet, Testnet3, Testnet4, Signet, Regtest or Simnet
	Params    *chaincfg.Params
	Challenge []byte // signet only: the default signet's challenge unless a custom one was given
	Custom    bool   // a custom signet (its own challenge and magic)
}

// Lookup returns the network by name; challenge selects a custom signet.
func Lookup(name string, challenge []byte) (*Network, error) {
	p, err := ByName(name, challenge)
	if err != nil {
		return nil, err
	}
	n := &Network{Name: Canonical(name), Params: p}
	if n.Name == Signet {
		n.Challenge, n.Custom = defaultSignetChallenge(), len(challenge) > 0
		if n.Custom {
			n.Challenge = append([]byte(nil), challenge...)
		}
	}
	return n, nil
}

// ID names the network uniquely, for data directories: the name, and for a custom
// signet "signet-" and its magic in hex.
func (n *Network) ID() string {
	if n.Custom {
		return fmt.Sprintf("%s-%08x", n.Name, uint32(n.Params.Net))
	}
	return n.Name
}

// defaultSignetChallenge is the default signet's 1-of-2 multisig challenge.
func defaultSignetChallenge() []byte {
	b, _ := hex.DecodeString("512103ad5e0edad18cb1f0fc0d28a3d4f1f3e445640337489abb10404f2d1e086be430210359ef5021964fe22d6f8e05b2463c9540ce96883fe3b278760f048f5189f2e6c452ae")
	return b
}

// Testnet4Params returns testnet4's parameters (BIP 94): testnet3's address encodings
// and rules with its own genesis block, magic 0x1c163f28, port 48333, and every soft
// fork buried from block 1. btcd v0.24.2 does not know BIP 94's two changes to
// difficulty (the time-warp fix and the minimum-difficulty exception that no longer
// resets the retarget base); the broker takes the difficulty from the node's template.
func Testnet4Params() *chaincfg.Params {
	p := chaincfg.TestNet3Params
	genesis := testnet4Genesis()
	hash := genesis.BlockHash()
	p.Name = Testnet4
	p.Net = wire.BitcoinNet(0x283f161c) // message start 1c 16 3f 28
	p.DefaultPort = "48333"
	p.DNSSeeds = nil
	p.GenesisBlock = genesis
	p.GenesisHash = &hash
	p.PowLimit = new(big.Int).Set(chaincfg.TestNet3Params.PowLimit)
	p.BIP0034Height, p.BIP0065Height, p.BIP0066Height = 1, 1, 1
	p.Checkpoints = nil
	for _, d := range []int{chaincfg.DeploymentCSV, chaincfg.DeploymentSegwit, chaincfg.DeploymentTaproot} {
		p.Deployments[d].DeploymentStarter = chaincfg.NewMedianTimeDeploymentStarter(time.Time{})
		p.Deployments[d].DeploymentEnder = chaincfg.NewMedianTimeDeploymentEnder(time.Time{})
		p.Deployments[d].MinActivationHeight = 1
	}
	return &p
}

// testnet4Genesis builds testnet4's genesis block as Core's chainparams does: the
// usual genesis coinbase shape with BIP 94's message and a 33-zero-byte key.
func testnet4Genesis() *wire.MsgBlock {
	const msg = "03/May/2024 000000000000000000001ebd58c244970b3aa9d783bb001011fbe8ea8e98e00e"
	// <486604799> <CScriptNum 4 as a one-byte push, not OP_4> <msg>
	sigScript, _ := txscript.NewScriptBuilder().AddInt64(486604799).Script()
	sigScript = append(sigScript, txscript.OP_DATA_1, 4)
	sigScript, _ = txscript.NewScriptBuilder().AddOps(sigScript).AddData([]byte(msg)).Script()
	pkScript, _ := txscript.NewScriptBuilder().AddData(make([]byte, 33)).AddOp(txscript.OP_CHECKSIG).Script()
	cb := wire.NewMsgTx(1)
	cb.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  sigScript,
		Sequence:         wire.MaxTxInSequenceNum,
	})
	cb.AddTxOut(wire.NewTxOut(50*1e8, pkScript))
	b := &wire.MsgBlock{
		Header: wire.BlockHeader{
			Version:    1,
			MerkleRoot: cb.TxHash(),
			Timestamp:  time.Unix(1714777860, 0),
			Bits:       0x1d00ffff,
			Nonce:      393743547,
		},
		Transactions: []*wire.MsgTx{cb},
	}
	return b
}
