// Package busnode serves a broker to Stratum gateways over the bus (package bus): it
// publishes every job, answers authorizations through the same adapter the broker's
// own Stratum server uses (stratumpool), leases extranonce1 prefixes to gateways (one
// live gateway per prefix; a duplicate is refused) and hands out blocks of extranonce1
// values under them, and records gateways' shares through the broker's share path,
// answering only after the store committed them. A share whose extranonce1 does not
// carry its gateway's leased prefix is refused and logged.
package busnode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/broker/bus"
	"github.com/proofow/powbroker/broker/stratumpool"
	"github.com/proofow/powbroker/stratum"
)

// LeaseTTL is how long a gateway's prefix stays its own without a heartbeat.
const LeaseTTL = 10 * time.Second

// BlockSize is the number of extranonce1 values per block handed to a gateway.
const BlockSize = 4096

// Node is a broker on the bus.
type Node struct {
	b    *broker.Broker
	pool *stratumpool.Pool
	c    *bus.Conn
	log  *slog.Logger
	id   string

	mu     sync.Mutex
	leases map[int]lease // prefix -> holder
}

type lease struct {
	gateway string
	until   time.Time
}

// New returns a node for b on c.
func New(b *broker.Broker, c *bus.Conn, log *slog.Logger) *Node {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	buf := make([]byte, 8)
	_, _ = rand.Read(buf)
	return &Node{b: b, pool: stratumpool.New(b), c: c, log: log, id: "brk-" + hex.EncodeToString(buf), leases: make(map[int]lease)}
}

// ID is this broker's instance id, carried by every job it publishes.
func (n *Node) ID() string { return n.id }

// Run serves until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	subs := []func() error{}
	for _, sub := range []func() (unsubscriber, error){
		func() (unsubscriber, error) { return bus.Serve(ctx, n.c, bus.SubjectAuth, 1024, n.auth) },
		func() (unsubscriber, error) { return bus.Serve(ctx, n.c, bus.SubjectRegister, 64, n.register) },
		func() (unsubscriber, error) { return bus.Serve(ctx, n.c, bus.SubjectExtranonce, 64, n.extranonce) },
		func() (unsubscriber, error) { return bus.Serve(ctx, n.c, bus.SubjectSubmit, 8192, n.submit) },
		func() (unsubscriber, error) { return bus.Serve(ctx, n.c, bus.SubjectJobNow, 64, n.jobNow) },
	} {
		s, err := sub()
		if err != nil {
			return fmt.Errorf("busnode: subscribe: %w", err)
		}
		subs = append(subs, s.Unsubscribe)
	}
	defer func() {
		for _, u := range subs {
			_ = u()
		}
	}()
	jobs, cancel := n.b.Jobs()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case j := <-jobs:
			if j == nil {
				continue
			}
			if err := n.c.Publish(bus.SubjectJobs, n.wire(j)); err != nil {
				n.log.Warn("busnode: publish job", "job", j.ID, "err", err)
			}
		}
	}
}

type unsubscriber interface{ Unsubscribe() error }

// wire is a job as published.
func (n *Node) wire(j *broker.Job) *bus.Job {
	p := j.Parts()
	w := &bus.Job{Broker: n.id, ID: p.ID, PrevHash: p.PrevHash[:], Height: p.Height, Version: p.Version,
		Bits: p.Bits, NTime: p.NTime, MinTime: p.MinTime, Coinb1: p.Coinb1, Coinb2: p.Coinb2,
		Extranonce2Size: p.Extranonce2Size, Orders: p.Orders, Clean: p.Clean}
	w.Branch = make([][]byte, len(p.Branch))
	for i := range p.Branch {
		w.Branch[i] = append([]byte(nil), p.Branch[i][:]...)
	}
	return w
}

// JobParts converts a published job back (for gateways).
func JobParts(w *bus.Job) broker.RemoteJobParts {
	p := broker.RemoteJobParts{ID: w.ID, Height: w.Height, Version: w.Version, Bits: w.Bits, NTime: w.NTime,
		MinTime: w.MinTime, Coinb1: w.Coinb1, Coinb2: w.Coinb2, Extranonce2Size: w.Extranonce2Size,
		Orders: w.Orders, Clean: w.Clean}
	copy(p.PrevHash[:], w.PrevHash)
	p.Branch = make([]chainhash.Hash, len(w.Branch))
	for i, h := range w.Branch {
		copy(p.Branch[i][:], h)
	}
	return p
}

func (n *Node) jobNow(_ context.Context, _ *bus.JobNow) *bus.Job {
	if j := n.b.CurrentJob(); j != nil {
		return n.wire(j)
	}
	return &bus.Job{}
}

func busError(err error) *bus.Error {
	var se *stratum.Error
	if errors.As(err, &se) {
		return &bus.Error{Code: se.Code, Message: se.Message}
	}
	return &bus.Error{Code: stratum.CodeOther, Message: err.Error()}
}

func busAccount(a stratum.Account) bus.Account {
	return bus.Account{ID: a.ID, State: a.State, Working: a.Working, Message: a.Message}
}

func (n *Node) auth(ctx context.Context, r *bus.AuthRequest) *bus.AuthReply {
	acc, err := n.pool.Authorize(ctx, r.Token)
	if err != nil {
		return &bus.AuthReply{Error: busError(err)}
	}
	a := busAccount(acc)
	return &bus.AuthReply{Account: &a}
}

// register leases a prefix to a gateway (or renews its lease).
func (n *Node) register(_ context.Context, r *bus.Register) *bus.RegisterReply {
	if r.Prefix < 1 || r.Prefix > 255 || r.Gateway == "" || len(r.Gateway) > 64 {
		return &bus.RegisterReply{Broker: n.id, Error: &bus.Error{Code: stratum.CodeOther, Message: "a gateway needs an id and a prefix from 1 to 255"}}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	if l, ok := n.leases[r.Prefix]; ok && l.gateway != r.Gateway && now.Before(l.until) {
		n.log.Warn("busnode: refused a duplicate extranonce prefix", "prefix", r.Prefix, "gateway", r.Gateway, "holder", l.gateway)
		return &bus.RegisterReply{Broker: n.id, Error: &bus.Error{Code: stratum.CodeOther,
			Message: fmt.Sprintf("extranonce prefix %d is held by gateway %s", r.Prefix, l.gateway)}}
	}
	if l, ok := n.leases[r.Prefix]; !ok || l.gateway != r.Gateway {
		n.log.Info("busnode: gateway registered", "gateway", r.Gateway, "prefix", r.Prefix)
	}
	n.leases[r.Prefix] = lease{gateway: r.Gateway, until: now.Add(LeaseTTL)}
	return &bus.RegisterReply{Broker: n.id}
}

// holds tells whether gateway holds prefix now.
func (n *Node) holds(gateway string, prefix int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.leases[prefix]
	return ok && l.gateway == gateway && time.Now().Before(l.until)
}

func (n *Node) extranonce(ctx context.Context, r *bus.ExtranonceRequest) *bus.ExtranonceReply {
	if !n.holds(r.Gateway, r.Prefix) {
		return &bus.ExtranonceReply{Error: &bus.Error{Code: stratum.CodeOther, Message: fmt.Sprintf("gateway %s does not hold prefix %d: register first", r.Gateway, r.Prefix)}}
	}
	first, err := n.b.ExtranonceBlock(ctx, byte(r.Prefix), BlockSize)
	if err != nil {
		return &bus.ExtranonceReply{Error: busError(err)}
	}
	return &bus.ExtranonceReply{First: first, Count: BlockSize}
}

func (n *Node) submit(ctx context.Context, s *bus.Share) *bus.SubmitReply {
	if len(s.Extranonce1) != 4 || !n.holds(s.Gateway, int(s.Extranonce1[0])) {
		n.log.Warn("busnode: refused a share from a gateway not holding its extranonce prefix", "gateway", s.Gateway, "extranonce1", hex.EncodeToString(s.Extranonce1))
		return &bus.SubmitReply{Error: &bus.Error{Code: stratum.CodeOther, Message: "the share's extranonce1 is not under the gateway's leased prefix"}}
	}
	acc, err := n.pool.Submit(ctx, stratum.Share{Account: s.Account, Worker: s.Worker, JobID: s.JobID,
		Extranonce1: s.Extranonce1, Extranonce2: s.Extranonce2, NTime: s.NTime, Nonce: s.Nonce,
		Version: s.Version, Difficulty: s.Difficulty})
	if err != nil {
		return &bus.SubmitReply{Error: busError(err)}
	}
	return &bus.SubmitReply{Accepted: &bus.Accepted{Difficulty: acc.Difficulty, Block: acc.Block, Account: busAccount(acc.Account)}}
}
