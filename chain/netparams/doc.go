// Package netparams names the Bitcoin networks the broker can mine on and defines the
// parameters btcd v0.24.2 lacks: testnet4 (BIP 94) and custom signets (BIP 325), whose
// network magic is derived from the block challenge. Every function returns a fresh
// copy, so callers may not change each other's parameters; nothing is registered with
// chaincfg (no package-level state).
package netparams
