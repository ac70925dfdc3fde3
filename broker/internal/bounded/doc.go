// Package bounded is a map with a size limit for caches whose entries are cheap to get
// again (a merkle root, a share target, an assignment read back from the store, a rate
// bucket): when it is full, adding a new key forgets every entry first. That is the
// cheapest eviction there is (no per-entry bookkeeping, no allocation on a hit), which
// suits the share path; a cache whose misses are expensive wants an LRU instead.
package bounded
