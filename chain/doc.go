// Package chain defines Backend, the one interface through which powbroker talks to a
// Bitcoin-style chain (a node it embeds or one it reaches over JSON-RPC), and the helpers
// every backend shares: network parameters, coinbase construction, the Stratum merkle
// branch and block assembly. Backends know nothing about orders.
package chain
