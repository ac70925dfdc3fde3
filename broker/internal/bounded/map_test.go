package bounded

import (
	"sync"
	"testing"
)

func TestMap(t *testing.T) {
	tests := []struct {
		name    string
		limit   int
		puts    []int // keys put in order (value = key*10)
		wantLen int
		present []int
		absent  []int
	}{
		{"under the limit keeps everything", 3, []int{1, 2, 3}, 3, []int{1, 2, 3}, nil},
		{"a new key in a full map empties it", 3, []int{1, 2, 3, 4}, 1, []int{4}, []int{1, 2, 3}},
		{"an existing key in a full map is replaced, nothing forgotten", 3, []int{1, 2, 3, 2}, 3, []int{1, 2, 3}, nil},
		{"fills again after emptying", 2, []int{1, 2, 3, 4, 5}, 1, []int{5}, []int{1, 2, 3, 4}},
		{"a limit below 1 holds one entry", 0, []int{1, 2}, 1, []int{2}, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New[int, int](tc.limit)
			for _, k := range tc.puts {
				c.Put(k, k*10)
			}
			if c.Len() != tc.wantLen {
				t.Errorf("Len = %d, want %d", c.Len(), tc.wantLen)
			}
			for _, k := range tc.present {
				if v, ok := c.Get(k); !ok || v != k*10 {
					t.Errorf("Get(%d) = %d, %v", k, v, ok)
				}
			}
			for _, k := range tc.absent {
				if v, ok := c.Get(k); ok {
					t.Errorf("Get(%d) = %d, want absent", k, v)
				}
			}
		})
	}
}

func TestGetOrPut(t *testing.T) {
	c := New[string, *int](2)
	calls := 0
	mk := func() *int { calls++; n := calls; return &n }
	a := c.GetOrPut("a", mk)
	if again := c.GetOrPut("a", mk); again != a || calls != 1 {
		t.Fatalf("second GetOrPut made a new value (%d calls)", calls)
	}
	c.GetOrPut("b", mk)
	c.GetOrPut("c", mk) // full: forgets a and b
	if _, ok := c.Get("a"); ok || c.Len() != 1 {
		t.Fatalf("after overflow: a present %v, len %d", ok, c.Len())
	}
	// Concurrent callers of one key get one value.
	c2 := New[int, *int](100)
	var wg sync.WaitGroup
	got := make([]*int, 50)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = c2.GetOrPut(7, func() *int { return new(int) })
		}()
	}
	wg.Wait()
	for _, p := range got {
		if p != got[0] {
			t.Fatal("two values for one key")
		}
	}
}
