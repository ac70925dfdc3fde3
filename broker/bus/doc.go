// Package bus carries powbroker's messages between the broker and its Stratum
// gateways over NATS: jobs and new tips from the broker to every gateway (publish),
// and authorizations, extranonce blocks, gateway registrations and shares from the
// gateways to the broker (request/reply; a share's reply comes only after the
// broker's store committed it).
//
// Every message is authenticated with HMAC-SHA256 under a key the broker and the
// gateways share (headers Pb-Ts and Pb-Mac, over the subject, the timestamp and the
// body); a message with a missing or wrong MAC, a timestamp more than MaxSkew away,
// an oversized body or a body that does not decode strictly is refused, logged and
// never acted on. Bodies are JSON with unknown fields refused.
package bus
