// Package standard is the standardness policy every backend's local transaction check
// applies: btcd's own policy (mempool.CheckTransactionStandard) extended with what Bitcoin
// Core 28+ relays and btcd v0.24.2 predates: version-3 (TRUC, BIP 431) transactions and
// pay-to-anchor outputs (P2A, BIP 433), including one 0-value P2A "ephemeral dust" output
// on a zero-fee transaction and the spend of a P2A output with an empty scriptSig and an
// empty witness. These are valid by consensus; only btcd's policy refused them.
package standard
