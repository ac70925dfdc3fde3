package broker

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Pricing turns a transaction's size and fee into the work it costs, in work units
// (one unit = one difficulty-1 share, about 2^32 hashes):
// required = max(MinWork, WorkPerVByte*vsize - WorkPerSat*fee).
type Pricing struct {
	MinWork      float64 `json:"min_work"`
	WorkPerVByte float64 `json:"work_per_vbyte"`
	WorkPerSat   float64 `json:"work_per_sat"`
}

// Price returns the required work for a transaction.
func (p Pricing) Price(vsize, fee int64) float64 {
	return math.Max(p.MinWork, p.WorkPerVByte*float64(vsize)-p.WorkPerSat*float64(fee))
}

// Config tunes the broker. Zero fields take DefaultConfig's values.
type Config struct {
	Pricing Pricing `json:"pricing"`
	// ShareDifficulty of HTTP assignments (capped at the network difficulty).
	ShareDifficulty float64 `json:"share_difficulty"`
	// AssignmentNonces is the size of the nonce range of one HTTP assignment.
	AssignmentNonces uint64 `json:"assignment_nonces"`
	// AssignmentTTL is how long an assignment stays valid.
	AssignmentTTL Duration `json:"assignment_ttl"`
	// OrderTTL is how long an order may stay unpaid and unmined before it expires.
	OrderTTL Duration `json:"order_ttl"`
	// Confirmations after which a mined order is confirmed.
	Confirmations int32 `json:"confirmations"`
	// RefreshInterval bounds how long a new or completed order waits for a new job.
	RefreshInterval Duration `json:"refresh_interval"`
	// MaxActiveOrders bounds the orders in templates at once.
	MaxActiveOrders int `json:"max_active_orders"`
	// CoinbaseTag is written into every coinbase script.
	CoinbaseTag string `json:"coinbase_tag"`
	// MaxTxBytes bounds a submitted raw transaction.
	MaxTxBytes int `json:"max_tx_bytes"`
	// SatsPerWorkUnit is what the broker would pay, in satoshi per work unit of an
	// order's price, for a child settling the order by fee (the cap of that child's
	// fee). 0 (the default) offers no settlement: the broker's wallet pays real money.
	SatsPerWorkUnit float64 `json:"sats_per_work_unit"`
}

// DefaultConfig returns the defaults for a network. On the private network (default
// difficulty 1/64 unit, about 2^26 hashes per block) a typical order costs about 1/17 of
// a block and about 30 shares, so orders are paid by shares before their block is found,
// and the pool's users find a block every 15-20 orders. On regtest every share is a block.
func DefaultConfig(net string) Config {
	c := Config{
		Pricing:          Pricing{MinWork: 0.0002, WorkPerVByte: 4e-6, WorkPerSat: 1e-8},
		ShareDifficulty:  1.0 / (1 << 15),
		AssignmentNonces: 1 << 26,
		AssignmentTTL:    Duration(2 * time.Minute),
		OrderTTL:         Duration(24 * time.Hour),
		Confirmations:    6,
		RefreshInterval:  Duration(2 * time.Second),
		MaxActiveOrders:  1000,
		CoinbaseTag:      "/powbroker/",
		MaxTxBytes:       100_000,
	}
	if net == "regtest" {
		c.Pricing = Pricing{MinWork: 1e-8, WorkPerVByte: 1e-10, WorkPerSat: 1e-13}
		c.ShareDifficulty = 4.656542373906925e-10
	}
	return c
}

// WithDefaults returns c with zero fields taken from DefaultConfig(net).
func (c Config) WithDefaults(net string) Config {
	d := DefaultConfig(net)
	orDefault(&c.Pricing, d.Pricing)
	orDefault(&c.ShareDifficulty, d.ShareDifficulty)
	orDefault(&c.AssignmentNonces, d.AssignmentNonces)
	orDefault(&c.AssignmentTTL, d.AssignmentTTL)
	orDefault(&c.OrderTTL, d.OrderTTL)
	orDefault(&c.Confirmations, d.Confirmations)
	orDefault(&c.RefreshInterval, d.RefreshInterval)
	orDefault(&c.MaxActiveOrders, d.MaxActiveOrders)
	orDefault(&c.CoinbaseTag, d.CoinbaseTag)
	orDefault(&c.MaxTxBytes, d.MaxTxBytes)
	return c
}

// orDefault sets *v to d when *v is the zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Validate reports the first unusable value.
func (c Config) Validate() error {
	p := c.Pricing
	switch {
	case !finite(p.MinWork) || p.MinWork <= 0:
		return errors.New("pricing.min_work must be a positive number")
	case !finite(p.WorkPerVByte) || p.WorkPerVByte < 0:
		return errors.New("pricing.work_per_vbyte must be zero or positive")
	case !finite(p.WorkPerSat) || p.WorkPerSat < 0:
		return errors.New("pricing.work_per_sat must be zero or positive")
	case !finite(c.ShareDifficulty) || c.ShareDifficulty <= 0:
		return errors.New("share_difficulty must be a positive number")
	case c.AssignmentNonces > 1<<32:
		return fmt.Errorf("assignment_nonces %d is more than 2^32", c.AssignmentNonces)
	case c.Confirmations < 1 || c.Confirmations > 1000:
		return fmt.Errorf("confirmations %d outside 1..1000", c.Confirmations)
	case len(c.CoinbaseTag) > 32:
		return errors.New("coinbase_tag is longer than 32 bytes")
	case !finite(c.SatsPerWorkUnit) || c.SatsPerWorkUnit < 0 || c.SatsPerWorkUnit > 1e15:
		return errors.New("sats_per_work_unit must be a number from 0 to 1e15")
	case c.MaxTxBytes < 60 || c.MaxTxBytes > 4_000_000:
		return fmt.Errorf("max_tx_bytes %d outside 60..4000000", c.MaxTxBytes)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Duration is a time.Duration that reads and writes JSON as a string like "30s".
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("duration %s: want a string like \"30s\"", b)
	}
	v, err := time.ParseDuration(string(b[1 : len(b)-1]))
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	if v < 0 {
		return fmt.Errorf("duration %s is negative", v)
	}
	*d = Duration(v)
	return nil
}
