package receipt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Tree is the merkle tree over a set of share header hashes.
type Tree struct {
	hashes [][32]byte // sorted header hashes
	levels [][][32]byte
}

// NewTree builds the tree over the header hashes (internal byte order), in any order.
func NewTree(hashes [][32]byte) *Tree {
	hs := slices.Clone(hashes)
	slices.SortFunc(hs, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	t := &Tree{hashes: hs}
	level := make([][32]byte, len(hs))
	for i, h := range hs {
		level[i] = leafHash(h)
	}
	t.levels = append(t.levels, level)
	for len(level) > 1 {
		next := make([][32]byte, 0, (len(level)+1)/2)
		for i := 0; i < len(level); i += 2 {
			if i+1 < len(level) {
				next = append(next, nodeHash(level[i], level[i+1]))
			} else {
				next = append(next, level[i])
			}
		}
		t.levels = append(t.levels, next)
		level = next
	}
	return t
}

func leafHash(h [32]byte) [32]byte { return *chainhash.TaggedHash([]byte(TagShare), h[:]) }

func nodeHash(l, r [32]byte) [32]byte { return *chainhash.TaggedHash([]byte(TagNode), l[:], r[:]) }

// Root is the merkle root; 32 zero bytes for no shares.
func (t *Tree) Root() [32]byte {
	top := t.levels[len(t.levels)-1]
	if len(top) == 0 {
		return [32]byte{}
	}
	return top[0]
}

// Hashes are the header hashes in leaf order.
func (t *Tree) Hashes() [][32]byte { return t.hashes }

// Proof shows that one share's header hash is a leaf of a receipt's merkle root.
type Proof struct {
	OrderID    string   `json:"order_id"`
	MerkleRoot string   `json:"merkle_root"`
	Share      string   `json:"share"` // header hash, display order hex (as block explorers show hashes)
	Index      uint64   `json:"index"` // leaf position, sorted by internal-order hash
	Leaves     uint64   `json:"leaves"`
	Path       []string `json:"path"` // sibling hashes from the leaf up, hex
}

// Prove returns the inclusion proof of a header hash (internal byte order).
func (t *Tree) Prove(hash [32]byte) (*Proof, error) {
	idx, ok := slices.BinarySearchFunc(t.hashes, hash, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	if !ok {
		return nil, fmt.Errorf("share %s is not among the order's %d accepted shares", chainhash.Hash(hash), len(t.hashes))
	}
	root := t.Root()
	p := &Proof{Share: chainhash.Hash(hash).String(), Index: uint64(idx), Leaves: uint64(len(t.hashes)),
		MerkleRoot: hex.EncodeToString(root[:]), Path: []string{}}
	i := idx
	for _, level := range t.levels[:len(t.levels)-1] {
		sib := i ^ 1
		if sib < len(level) {
			p.Path = append(p.Path, hex.EncodeToString(level[sib][:]))
		}
		i /= 2
	}
	return p, nil
}

// ParseProof reads a proof strictly.
func ParseProof(data []byte) (*Proof, error) {
	var p Proof
	if err := strictJSON(data, &p); err != nil {
		return nil, fmt.Errorf("share proof: %w", err)
	}
	return &p, nil
}

// VerifyProof checks that the proof leads from its share to the receipt's merkle root.
func VerifyProof(r *Receipt, p *Proof) error {
	if p.OrderID != "" && p.OrderID != r.OrderID {
		return fmt.Errorf("the share proof is for order %s, the receipt for %s", p.OrderID, r.OrderID)
	}
	if p.Leaves != r.Shares {
		return fmt.Errorf("the share proof counts %d shares, the receipt %d", p.Leaves, r.Shares)
	}
	if p.Index >= p.Leaves {
		return fmt.Errorf("the share proof's index %d is not below its %d leaves", p.Index, p.Leaves)
	}
	var share chainhash.Hash
	if err := chainhash.Decode(&share, p.Share); err != nil || len(p.Share) != 64 {
		return fmt.Errorf("the share proof's share must be 64 hex digits, got %q", p.Share)
	}
	h := leafHash(share)
	i, n, k := p.Index, p.Leaves, 0
	for n > 1 {
		if i%2 == 1 || i+1 < n {
			if k >= len(p.Path) {
				return errors.New("the share proof's path is too short for its index and leaf count")
			}
			sb, err := hex.DecodeString(p.Path[k])
			if err != nil || len(sb) != 32 {
				return fmt.Errorf("path[%d] must be 64 hex digits", k)
			}
			sib := [32]byte(sb)
			if i%2 == 1 {
				h = nodeHash(sib, h)
			} else {
				h = nodeHash(h, sib)
			}
			k++
		}
		i, n = i/2, (n+1)/2
	}
	if k != len(p.Path) {
		return fmt.Errorf("the share proof's path has %d hashes, %d expected", len(p.Path), k)
	}
	if got := hex.EncodeToString(h[:]); got != r.MerkleRoot {
		return fmt.Errorf("share %s is not part of the receipt: the proof leads to merkle root %s, the receipt has %s", p.Share, got, r.MerkleRoot)
	}
	return nil
}
