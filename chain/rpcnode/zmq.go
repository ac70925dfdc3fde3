package rpcnode

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/go-zeromq/zmq4"
)

// zmqRetry is the pause between attempts to reach bitcoind's ZMQ publisher.
const zmqRetry = time.Second

// CheckZMQ validates a ZMQ endpoint: tcp://HOST:PORT.
func CheckZMQ(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "tcp" || u.Host == "" || u.Port() == "" || u.Path != "" || u.User != nil {
		return fmt.Errorf("ZMQ endpoint %q: want tcp://HOST:PORT (bitcoind -zmqpubhashblock)", endpoint)
	}
	return nil
}

// zmqBlocks subscribes to bitcoind's hashblock topic at n.cfg.ZMQ and signals kick on
// every announced block, so that the tip poller polls at once. The announcement is
// only a wake-up: the poller asks getbestblockhash as always, so a missed or
// duplicated message costs latency, never correctness. The library reconnects on its
// own (bitcoind restarted) until ctx ends.
func (n *Node) zmqBlocks(ctx context.Context, kick chan<- struct{}) {
	sub := zmq4.NewSub(ctx, zmq4.WithAutomaticReconnect(true), zmq4.WithDialerMaxRetries(-1),
		zmq4.WithDialerRetry(zmqRetry), zmq4.WithDialerTimeout(n.cfg.Timeout))
	defer sub.Close()
	if err := sub.Dial(n.cfg.ZMQ); err != nil {
		if ctx.Err() == nil {
			n.log.Warn("ZMQ block notifications unavailable; tips come from polling only", "zmq", n.cfg.ZMQ, "err", err)
		}
		return
	}
	if err := sub.SetOption(zmq4.OptionSubscribe, "hashblock"); err != nil {
		n.log.Warn("ZMQ subscribe failed; tips come from polling only", "zmq", n.cfg.ZMQ, "err", err)
		return
	}
	n.log.Debug("subscribed to ZMQ hashblock", "zmq", n.cfg.ZMQ)
	// A block may have come between the first poll and the subscription.
	signal(kick)
	for {
		msg, err := sub.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Debug("ZMQ receive", "err", err)
			select {
			case <-time.After(zmqRetry):
				continue
			case <-ctx.Done():
				return
			}
		}
		// hashblock messages are [topic, 32-byte hash, 4-byte sequence].
		if len(msg.Frames) >= 2 && string(msg.Frames[0]) == "hashblock" && len(msg.Frames[1]) == 32 {
			signal(kick)
		}
	}
}

// signal wakes the poller unless a wake-up is already pending.
func signal(kick chan<- struct{}) {
	select {
	case kick <- struct{}{}:
	default:
	}
}
