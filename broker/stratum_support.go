package broker

// RefreshSoon asks the broker to build a new job now rather than at the next refresh
// tick: the Stratum server calls it when a worker authorizes for a working order that
// the current job does not carry yet.
func (b *Broker) RefreshSoon() { b.markDirty(true) }
