// Package sse is a Server-Sent Events hub: events get increasing ids and are kept in a
// bounded replay buffer, so a client that reconnects with Last-Event-ID receives what
// it missed (or a "reset" event when that is no longer buffered, or the hub restarted);
// every client has a bounded queue, and a client that does not keep up is disconnected
// instead of holding up the others.
//
// Ids are "EPOCH-SEQ": EPOCH identifies the hub instance (its start time), SEQ counts
// its events from 1.
package sse
