// Package stratumpool adapts a *broker.Broker to the stratum.Pool interface: order
// tokens authorize workers, broker jobs become Stratum jobs (with no bits inside the
// version-rolling mask), shares go through the broker's one share path, and broker
// problems become Stratum error codes.
package stratumpool
