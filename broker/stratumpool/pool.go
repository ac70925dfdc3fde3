package stratumpool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/proofow/powbroker/broker"
	"github.com/proofow/powbroker/stratum"
)

// Pool is the broker as a stratum.Pool.
type Pool struct {
	b *broker.Broker
}

var _ stratum.Pool = (*Pool)(nil)

// New returns the adapter for b.
func New(b *broker.Broker) *Pool { return &Pool{b: b} }

// Message describes an order for its miners; it always starts "order <id> is <state>".
func Message(o *broker.Order) string {
	switch o.State {
	case broker.StateWorking:
		return fmt.Sprintf("order %s is working: %.6g of %.6g work units", o.ID, o.CreditedWork, o.RequiredWork)
	case broker.StatePaid:
		return fmt.Sprintf("order %s is paid: enough work arrived, its transaction waits in the pooled block template; stop mining it", o.ID)
	case broker.StateMined, broker.StateConfirmed:
		return fmt.Sprintf("order %s is %s: its transaction is in block %s at height %d; stop mining it", o.ID, o.State, o.BlockHash, o.Height)
	default:
		msg := fmt.Sprintf("order %s is %s", o.ID, o.State)
		if o.Reason != "" {
			msg += ": " + o.Reason
		}
		return msg
	}
}

func account(o *broker.Order) stratum.Account {
	return stratum.Account{ID: o.ID, State: string(o.State), Working: o.State == broker.StateWorking, Message: Message(o)}
}

// Authorize resolves an order token.
func (p *Pool) Authorize(ctx context.Context, token string) (stratum.Account, error) {
	o, err := p.b.AuthorizeToken(ctx, token)
	if err != nil {
		if broker.KindOf(err) == broker.KindNotFound {
			return stratum.Account{}, stratum.Errorf(stratum.CodeUnauthorized, "unknown worker: the worker name must be an order token (%s...)", broker.TokenPrefix)
		}
		return stratum.Account{}, fmt.Errorf("authorize: %w", err)
	}
	acc := account(o)
	if acc.Working {
		p.b.WantJob(o.ID) // a job that carries the order reaches the session by the feed
	}
	return acc, nil
}

// Extranonce1 hands out a unique extranonce1.
func (p *Pool) Extranonce1(ctx context.Context) ([]byte, error) { return p.b.NewExtranonce1(ctx) }

// AccountChanged is closed at the next change of the order.
func (p *Pool) AccountChanged(id string) <-chan struct{} { return p.b.OrderChanged(id) }

// Job converts a broker job: the version loses every bit of the rolling mask.
func Job(j *broker.Job) *stratum.Job {
	sj := &stratum.Job{
		ID: j.ID, PrevHash: j.PrevHash, Coinb1: j.Assembly.Coinb1, Coinb2: j.Assembly.Coinb2,
		Version: uint32(j.Version) &^ stratum.DefaultVersionMask, Bits: j.Bits, NTime: j.NTime,
		Extranonce2Size: j.Assembly.Extranonce2Size, Clean: j.Clean, NetDifficulty: j.NetworkDifficulty(),
		Carries: j.HasOrder, TipSeen: j.TipSeen,
	}
	sj.Branch = make([][32]byte, len(j.Assembly.Branch))
	for i, h := range j.Assembly.Branch {
		sj.Branch[i] = h
	}
	return sj
}

// Jobs delivers the broker's jobs converted, the newest one when the reader is slow.
func (p *Pool) Jobs() (<-chan *stratum.Job, func()) {
	in, cancel := p.b.Jobs()
	out := make(chan *stratum.Job, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case j := <-in:
				if j == nil {
					continue
				}
				sj := Job(j)
				select {
				case <-out: // replace a job nobody took yet
				default:
				}
				select {
				case out <- sj:
				case <-stop:
					return
				}
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			close(stop)
			cancel()
		})
	}
}

// Submit sends a share through the broker's share path.
func (p *Pool) Submit(ctx context.Context, s stratum.Share) (stratum.Accepted, error) {
	res, err := p.b.SubmitWork(ctx, broker.Work{
		OrderID: s.Account, JobID: s.JobID, Extranonce1: s.Extranonce1, Extranonce2: s.Extranonce2,
		NTime: s.NTime, Nonce: s.Nonce, Version: int32(s.Version), ShareDiff: s.Difficulty, Worker: s.Worker,
	})
	if err != nil {
		return stratum.Accepted{}, p.stratumError(ctx, s.Account, err)
	}
	acc := stratum.Account{ID: s.Account, State: string(res.OrderState), Working: res.OrderState == broker.StateWorking}
	if !acc.Working {
		acc = p.describe(ctx, s.Account, acc)
	}
	return stratum.Accepted{Difficulty: res.Difficulty, Block: res.Block, Account: acc}, nil
}

// describe fills an account's message from the stored order.
func (p *Pool) describe(ctx context.Context, id string, fallback stratum.Account) stratum.Account {
	if p.b != nil { // nil only in tests of the error table
		if o, err := p.b.LookupOrder(ctx, id); err == nil {
			return account(o)
		}
	}
	if fallback.Message == "" {
		fallback.Message = fmt.Sprintf("order %s is %s", id, fallback.State)
	}
	return fallback
}

// codeKinds lists, for each Stratum error code, the broker problem kinds it answers
// (every kind has one code; a test checks it). Kinds about the order itself answer
// "unauthorized" with the order's message (closedKind); problems a share cannot cause,
// or that are the pool's, are "other". Read only.
var codeKinds = map[int][]broker.Kind{
	stratum.CodeStale:         {broker.KindStaleJob},
	stratum.CodeDuplicate:     {broker.KindDuplicateShare},
	stratum.CodeLowDifficulty: {broker.KindLowDifficulty},
	stratum.CodeUnauthorized: {broker.KindOrderComplete, broker.KindExpired, broker.KindOrderClosed,
		broker.KindNotFound},
	stratum.CodeOther: {broker.KindBadShare, broker.KindUnauthorized, broker.KindInvalidHex,
		broker.KindInvalidTx, broker.KindTrailingBytes, broker.KindMissingInputs, broker.KindInputSpent,
		broker.KindConflict, broker.KindScriptFailure, broker.KindNonStandard, broker.KindTxTooLarge,
		broker.KindImmatureSpend, broker.KindNotFinal, broker.KindAlreadyMined, broker.KindDuplicateOrder,
		broker.KindAssignmentNotFound, broker.KindAssignmentMismatch, broker.KindAssignmentExpired,
		broker.KindNonceOutOfRange, broker.KindIdempotencyMismatch, broker.KindInvalidRequest,
		broker.KindUnknownField, broker.KindBodyTooLarge, broker.KindSlowDown, broker.KindNodeUnavailable,
		broker.KindNotReady, broker.KindFaucetUnavailable, broker.KindStorageUnavailable, broker.KindInternal,
		broker.KindNoReceipt, broker.KindShareNotInReceipt},
}

// codeOf is the Stratum error code of a kind (codeKinds); ok is false for a kind the
// table lacks.
func codeOf(k broker.Kind) (code int, ok bool) {
	for c, kinds := range codeKinds {
		if slices.Contains(kinds, k) {
			return c, true
		}
	}
	return stratum.CodeOther, false
}

// closedKind tells the kinds that say the order takes no more shares.
func closedKind(k broker.Kind) bool {
	switch k {
	case broker.KindOrderComplete, broker.KindExpired, broker.KindOrderClosed, broker.KindNotFound:
		return true
	}
	return false
}

// stratumError maps broker problems to Stratum codes (kindCode).
func (p *Pool) stratumError(ctx context.Context, order string, err error) error {
	var be *broker.Error
	if !errors.As(err, &be) {
		return err
	}
	if closedKind(be.Kind) {
		code, _ := codeOf(be.Kind)
		acc := p.describe(ctx, order, stratum.Account{ID: order, State: string(be.Kind), Message: be.Detail})
		return &stratum.Error{Code: code, Message: acc.Message}
	}
	return ErrorOf(err)
}

// ErrorOf maps a broker problem (from a share check, for example a gateway's) to its
// Stratum error with the problem's detail; other errors pass unchanged.
func ErrorOf(err error) error {
	var be *broker.Error
	if !errors.As(err, &be) {
		return err
	}
	code, _ := codeOf(be.Kind)
	return &stratum.Error{Code: code, Message: be.Detail}
}

// StopOnOrder is a stratum.MinerOptions.Stop for powbroker's messages ("order <id> is
// <state>..."): stop without error when the order is paid, mined or confirmed, with an
// error when it expired, failed or was canceled.
func StopOnOrder(msg string) (bool, error) {
	f := strings.Fields(msg)
	if len(f) < 4 || f[0] != "order" || f[2] != "is" {
		return false, nil
	}
	switch broker.State(strings.TrimRight(f[3], ":;,.")) {
	case broker.StatePaid, broker.StateMined, broker.StateConfirmed:
		return true, nil
	case broker.StateWorking:
		return false, nil
	default:
		return true, errors.New(msg)
	}
}
