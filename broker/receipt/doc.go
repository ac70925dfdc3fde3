// Package receipt issues and verifies signed work receipts: the broker's statement,
// signed with a BIP 340 Schnorr signature, of the work an order received (required and
// credited work, share count and difficulties, first and last share times), the merkle
// root over the accepted shares' header hashes, and the block that carried the order
// when it was mined.
//
// Format (version 1; README.md "Work receipts" is the reference):
//
//   - The receipt is a JSON object (Receipt). The signed message is
//     TaggedHash("powbroker/receipt", data), with BIP 340's tagged hash
//     SHA256(SHA256(tag) || SHA256(tag) || data), where data is the fields below in this
//     order, integers big-endian, floats as IEEE 754 binary64 bits, strings as a 2-byte
//     length and their UTF-8 bytes, hex fields as the 32 bytes they spell (as written):
//     version u8, network str, order_id str, txid 32, state str, required_work f64,
//     credited_work f64, shares u64, share_difficulty f64, share_difficulty_max f64,
//     first_share_at i64 (Unix ns, 0 without shares), last_share_at i64, merkle_root 32,
//     block_hash 32 (zeros when not mined), height i32 (0 when not mined), issued_at i64,
//     public_key 32.
//   - signature is BIP 340 over that message with the x-only public_key.
//   - merkle_root: leaves are TaggedHash("powbroker/share", h) for each accepted share's
//     header hash h (32 bytes in internal byte order, i.e. the raw double-SHA256 output),
//     sorted by h; a level pairs neighbours as TaggedHash("powbroker/node", left||right)
//     and carries a last, unpaired node up unchanged; no leaves give 32 zero bytes.
//   - A Proof shows that one share is a leaf: its index, the number of leaves and the
//     siblings from the leaf up.
package receipt
