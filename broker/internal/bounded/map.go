package bounded

import "sync"

// Map is a concurrency-safe map holding at most its limit of entries. Create it with
// New.
type Map[K comparable, V any] struct {
	mu    sync.Mutex
	limit int
	m     map[K]V
}

// New returns an empty map that holds at most limit (at least 1) entries.
func New[K comparable, V any](limit int) *Map[K, V] {
	return &Map[K, V]{limit: max(1, limit), m: make(map[K]V)}
}

// Get returns the value of k.
func (c *Map[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

// Put sets k to v. A new key in a full map empties the map first.
func (c *Map[K, V]) Put(k K, v V) {
	c.mu.Lock()
	c.put(k, v)
	c.mu.Unlock()
}

func (c *Map[K, V]) put(k K, v V) {
	if _, ok := c.m[k]; !ok && len(c.m) >= c.limit {
		clear(c.m)
	}
	c.m[k] = v
}

// GetOrPut returns the value of k, adding newValue() first when k is absent (as Put).
// newValue runs under the map's lock: it must not use the map.
func (c *Map[K, V]) GetOrPut(k K, newValue func() V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if !ok {
		v = newValue()
		c.put(k, v)
	}
	return v
}

// Len is the number of entries.
func (c *Map[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
