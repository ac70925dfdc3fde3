// Package miner computes double SHA-256 (sha256d) over 80-byte Bitcoin block headers and
// scans nonce ranges for hashes that meet a target.
//
// A header's first 64 bytes are compressed once per job (the midstate); every nonce then
// costs the second block of the first hash and the single block of the second hash. The
// kernels precompute what does not depend on the nonce (the first rounds of the second
// block, the nonce-independent parts of its message schedule, the constant padding words
// of both hashes) and stop the second hash as soon as its last state word (H7, the most
// significant 32 bits of the hash read as a little-endian integer) is known; only nonces
// whose H7 passes the target's top word are hashed again in full and compared exactly.
//
// Kernels are chosen at run time from the CPU's features (see Kernels, Best and ByName);
// the portable kernel runs everywhere and every other kernel is checked against it and
// against crypto/sha256 by the package's differential, real-data and fuzz tests.
package miner
