package receipt

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Version is the receipt format this package writes and reads.
const Version = 1

// Tags of the tagged hashes (BIP 340 style).
const (
	TagReceipt = "powbroker/receipt"
	TagShare   = "powbroker/share"
	TagNode    = "powbroker/node"
)

// MaxBytes bounds a receipt or proof document read from outside.
const MaxBytes = 1 << 20

// Receipt is a signed statement of the work an order received. Field order in JSON
// follows the signed order.
type Receipt struct {
	Version            int        `json:"version"`
	Network            string     `json:"network"`
	OrderID            string     `json:"order_id"`
	Txid               string     `json:"txid"`  // display order hex
	State              string     `json:"state"` // paid or mined, when issued
	RequiredWork       float64    `json:"required_work"`
	CreditedWork       float64    `json:"credited_work"`
	Shares             uint64     `json:"shares"`
	ShareDifficulty    float64    `json:"share_difficulty"`     // the lowest of the credited shares
	ShareDifficultyMax float64    `json:"share_difficulty_max"` // the highest
	FirstShareAt       *time.Time `json:"first_share_at"`
	LastShareAt        *time.Time `json:"last_share_at"`
	MerkleRoot         string     `json:"merkle_root"`
	BlockHash          string     `json:"block_hash,omitempty"` // display order hex, when mined
	Height             int32      `json:"height,omitempty"`
	IssuedAt           time.Time  `json:"issued_at"`
	PublicKey          string     `json:"public_key"` // 32-byte x-only key, hex
	Signature          string     `json:"signature"`  // 64-byte BIP 340 signature, hex
}

// Share is what a receipt needs of one accepted share.
type Share struct {
	Hash       [32]byte // header hash, internal byte order
	Difficulty float64
	At         time.Time
}

// Fill sets the share fields of r (count, difficulties, times, merkle root) from the
// accepted shares, and returns their merkle tree. The order of shares does not matter.
func (r *Receipt) Fill(shares []Share) *Tree {
	r.Shares = uint64(len(shares))
	r.ShareDifficulty, r.ShareDifficultyMax = 0, 0
	r.FirstShareAt, r.LastShareAt = nil, nil
	hashes := make([][32]byte, len(shares))
	for i, s := range shares {
		hashes[i] = s.Hash
		if i == 0 || s.Difficulty < r.ShareDifficulty {
			r.ShareDifficulty = s.Difficulty
		}
		r.ShareDifficultyMax = max(r.ShareDifficultyMax, s.Difficulty)
		at := s.At.UTC()
		if r.FirstShareAt == nil || at.Before(*r.FirstShareAt) {
			r.FirstShareAt = &at
		}
		if r.LastShareAt == nil || at.After(*r.LastShareAt) {
			t := at
			r.LastShareAt = &t
		}
	}
	t := NewTree(hashes)
	root := t.Root()
	r.MerkleRoot = hex.EncodeToString(root[:])
	return t
}

// Message is the 32-byte message the signature covers.
func (r *Receipt) Message() ([32]byte, error) {
	data, err := r.signedData()
	if err != nil {
		return [32]byte{}, err
	}
	return *chainhash.TaggedHash([]byte(TagReceipt), data), nil
}

// signedData serializes the signed fields in their order (see the package doc).
func (r *Receipt) signedData() ([]byte, error) {
	var b bytes.Buffer
	if r.Version != Version {
		return nil, fmt.Errorf("receipt version %d is not supported (want %d)", r.Version, Version)
	}
	b.WriteByte(byte(r.Version))
	str := func(name, s string) error {
		if len(s) > math.MaxUint16 {
			return fmt.Errorf("receipt field %s is too long", name)
		}
		_ = binary.Write(&b, binary.BigEndian, uint16(len(s)))
		b.WriteString(s)
		return nil
	}
	hex32 := func(name, s string, optional bool) error {
		if s == "" && optional {
			b.Write(make([]byte, 32))
			return nil
		}
		v, err := hex.DecodeString(s)
		if err != nil || len(v) != 32 {
			return fmt.Errorf("receipt field %s must be 64 hex digits, got %q", name, s)
		}
		b.Write(v)
		return nil
	}
	u64 := func(v uint64) { _ = binary.Write(&b, binary.BigEndian, v) }
	f64 := func(v float64) { u64(math.Float64bits(v)) }
	ns := func(t *time.Time) {
		if t == nil {
			u64(0)
			return
		}
		u64(uint64(t.UnixNano()))
	}
	if err := str("network", r.Network); err != nil {
		return nil, err
	}
	if err := str("order_id", r.OrderID); err != nil {
		return nil, err
	}
	if err := hex32("txid", r.Txid, false); err != nil {
		return nil, err
	}
	if err := str("state", r.State); err != nil {
		return nil, err
	}
	f64(r.RequiredWork)
	f64(r.CreditedWork)
	u64(r.Shares)
	f64(r.ShareDifficulty)
	f64(r.ShareDifficultyMax)
	ns(r.FirstShareAt)
	ns(r.LastShareAt)
	if err := hex32("merkle_root", r.MerkleRoot, false); err != nil {
		return nil, err
	}
	if err := hex32("block_hash", r.BlockHash, true); err != nil {
		return nil, err
	}
	_ = binary.Write(&b, binary.BigEndian, r.Height)
	ns(&r.IssuedAt)
	if err := hex32("public_key", r.PublicKey, false); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Signer signs receipts with one key.
type Signer struct {
	key *btcec.PrivateKey
	pub string
}

// NewSigner returns a signer for a 32-byte secret key.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) != 32 {
		return nil, fmt.Errorf("receipt key: want 32 bytes, got %d", len(secret))
	}
	priv, _ := btcec.PrivKeyFromBytes(secret)
	if priv.Key.IsZero() {
		return nil, errors.New("receipt key: the secret is zero or not below the curve order")
	}
	return &Signer{key: priv, pub: hex.EncodeToString(schnorr.SerializePubKey(priv.PubKey()))}, nil
}

// PublicKey is the signer's x-only public key, hex.
func (s *Signer) PublicKey() string { return s.pub }

// Sign sets r's public key and signature. aux is BIP 340's auxiliary randomness;
// nil draws it from crypto/rand.
func (s *Signer) Sign(r *Receipt, aux *[32]byte) error {
	r.Version = Version
	r.PublicKey = s.pub
	msg, err := r.Message()
	if err != nil {
		return err
	}
	var a [32]byte
	if aux != nil {
		a = *aux
	} else if _, err := rand.Read(a[:]); err != nil {
		return fmt.Errorf("receipt: aux randomness: %w", err)
	}
	sig, err := schnorr.Sign(s.key, msg[:], schnorr.CustomNonce(a))
	if err != nil {
		return fmt.Errorf("receipt: sign: %w", err)
	}
	r.Signature = hex.EncodeToString(sig.Serialize())
	return nil
}

// Verify checks the receipt's signature by its own public key, and, when pubkey is not
// empty, that the key is pubkey (hex, x-only). The error says what failed.
func Verify(r *Receipt, pubkey string) error {
	if pubkey != "" && pubkey != r.PublicKey {
		return fmt.Errorf("the receipt is signed by key %s, not the expected %s", r.PublicKey, pubkey)
	}
	pk, err := hex.DecodeString(r.PublicKey)
	if err != nil || len(pk) != 32 {
		return fmt.Errorf("public_key must be 64 hex digits (a 32-byte x-only key), got %q", r.PublicKey)
	}
	pub, err := schnorr.ParsePubKey(pk)
	if err != nil {
		return fmt.Errorf("public_key %s is not a valid x-only key: %w", r.PublicKey, err)
	}
	sb, err := hex.DecodeString(r.Signature)
	if err != nil || len(sb) != 64 {
		return fmt.Errorf("signature must be 128 hex digits (64 bytes), got %d characters", len(r.Signature))
	}
	sig, err := schnorr.ParseSignature(sb)
	if err != nil {
		return fmt.Errorf("signature is malformed: %w", err)
	}
	msg, err := r.Message()
	if err != nil {
		return err
	}
	if !sig.Verify(msg[:], pub) {
		return errors.New("the signature does not match the receipt's fields and public key: the receipt was changed or signed by another key")
	}
	return nil
}

// Parse reads a receipt strictly (unknown fields are errors).
func Parse(data []byte) (*Receipt, error) {
	var r Receipt
	if err := strictJSON(data, &r); err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	return &r, nil
}

func strictJSON(data []byte, v any) error {
	if len(data) > MaxBytes {
		return fmt.Errorf("the document is larger than %d bytes", MaxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not the expected JSON: %w", err)
	}
	if dec.More() {
		return errors.New("data follows the JSON object")
	}
	return nil
}
