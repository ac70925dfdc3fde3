package rpcnode

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/btcsuite/websocket"
)

// Websocket notification timing.
const (
	wsPingInterval = 20 * time.Second
	wsReadTimeout  = 3 * wsPingInterval
	wsMaxBackoff   = 10 * time.Second
	wsMaxMessage   = 1 << 20
)

// notifyBlocks keeps a websocket to btcd's /ws endpoint subscribed to block
// notifications (notifyblocks) and signals kick on every block connected or
// disconnected, so the tip poller polls at once instead of at its next tick. Polling
// stays the source of truth: a lost or refused websocket only costs latency. It
// reconnects with a backoff until ctx ends; a node that refuses the subscription
// itself (not btcd) ends the attempt for good.
func (n *Node) notifyBlocks(ctx context.Context, kick chan<- struct{}) {
	backoff := 500 * time.Millisecond
	warned := false
	for ctx.Err() == nil {
		began := time.Now()
		err := n.notifyOnce(ctx, kick)
		if ctx.Err() != nil {
			return
		}
		var refused *RPCError
		if errors.As(err, &refused) {
			n.log.Warn("block notifications refused; tips come from polling only", "err", err)
			return
		}
		if !warned {
			n.log.Info("block notification websocket lost; polling continues, reconnecting", "err", err)
			warned = true
		}
		if time.Since(began) > time.Minute {
			backoff = 500 * time.Millisecond
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, wsMaxBackoff)
	}
}

// notifyOnce runs one websocket connection until it fails or ctx ends.
func (n *Node) notifyOnce(ctx context.Context, kick chan<- struct{}) error {
	u, err := url.Parse(n.cfg.URL)
	if err != nil {
		return err
	}
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	dialer := websocket.Dialer{
		NetDial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: n.cfg.Timeout}
			return d.DialContext(ctx, network, addr)
		},
		HandshakeTimeout: n.cfg.Timeout,
	}
	header := http.Header{}
	user, pass := n.rpc.creds.get()
	header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	conn, _, err := dialer.Dial(scheme+"://"+u.Host+"/ws", header)
	if err != nil {
		return fmt.Errorf("websocket dial: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	conn.SetReadLimit(wsMaxMessage)
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(wsReadTimeout))
	})
	req, _ := json.Marshal(rpcRequest{JSONRPC: "1.0", ID: 1, Method: "notifyblocks", Params: []any{}})
	conn.SetWriteDeadline(time.Now().Add(n.cfg.Timeout))
	if err := conn.WriteMessage(websocket.TextMessage, req); err != nil {
		return fmt.Errorf("websocket notifyblocks: %w", err)
	}
	pingDone := make(chan struct{})
	defer close(pingDone)
	go func() {
		t := time.NewTicker(wsPingInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(n.cfg.Timeout)) != nil {
					conn.Close()
					return
				}
			case <-pingDone:
				return
			}
		}
	}()
	subscribed := false
	for {
		conn.SetReadDeadline(time.Now().Add(wsReadTimeout))
		_, data, err := conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("websocket read: %w", err)
		}
		var msg struct {
			ID     *json.RawMessage `json:"id"`
			Method string           `json:"method"`
			Error  json.RawMessage  `json:"error"`
		}
		if json.Unmarshal(data, &msg) != nil {
			continue
		}
		switch {
		case msg.Method == "blockconnected", msg.Method == "blockdisconnected",
			msg.Method == "filteredblockconnected", msg.Method == "filteredblockdisconnected":
			signal(kick)
		case msg.ID != nil && !subscribed:
			if len(msg.Error) > 0 && string(msg.Error) != "null" {
				var eb rpcErrorBody
				if json.Unmarshal(msg.Error, &eb) == nil && eb.Code != nil {
					return &RPCError{Method: "notifyblocks", Code: *eb.Code, Message: deref(eb.Message)}
				}
				return fmt.Errorf("websocket notifyblocks: error %.200s", msg.Error)
			}
			subscribed = true
			n.log.Debug("subscribed to block notifications")
			// A block may have arrived between the last poll and the
			// subscription: poll once now.
			signal(kick)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
