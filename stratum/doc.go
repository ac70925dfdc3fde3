// Package stratum is a Stratum v1 mining server and client.
//
// The server speaks line-delimited JSON-RPC over TCP to standard mining software:
// mining.configure (BIP 310 version rolling and minimum difficulty), mining.subscribe
// (with session resume), mining.authorize, mining.suggest_difficulty,
// mining.extranonce.subscribe and mining.submit with 5 or 6 parameters; it sends
// mining.set_difficulty (always before the first mining.notify), mining.notify,
// mining.set_extranonce, mining.set_version_mask, client.show_message and
// client.reconnect. It runs vardiff per session and enforces per-connection limits.
//
// The package knows nothing about orders: it talks to a Pool (authorize a worker
// name, hand out extranonce1 values, publish jobs, check shares). The broker's
// adapter lives in broker/stratumpool.
//
// The client (Client, Mine) is what powminer stratum runs.
package stratum
