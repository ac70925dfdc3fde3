package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// leaderLock is the advisory lock key held by the active broker ("powbactv").
const leaderLock = 0x706f776261637476

// Leader is the active broker's hold on a database: a session advisory lock on a
// connection of its own. Brokers on one database take turns: the others wait in
// AcquireLeader (standbys) and one of them gets the lock within about a poll interval
// after the holder's connection ends (process killed, host gone).
type Leader struct {
	conn *pgx.Conn
	lost chan struct{}
	stop chan struct{}
	done chan struct{}
}

// AcquireLeader blocks until this process holds the leader lock of the database at
// url or ctx ends. waiting is called once if another process holds it.
func AcquireLeader(ctx context.Context, url string, log *slog.Logger, waiting func()) (*Leader, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: leader lock: %w", err)
	}
	told := false
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(leaderLock)).Scan(&got); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("pgstore: leader lock: %w", err)
		}
		if got {
			break
		}
		if !told {
			told = true
			if waiting != nil {
				waiting()
			}
		}
		select {
		case <-ctx.Done():
			conn.Close(context.Background())
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	l := &Leader{conn: conn, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go l.watch(log)
	return l, nil
}

// watch pings the lock's connection; when it fails the lock may be gone, and Lost
// closes: the process must stop acting as the broker.
func (l *Leader) watch(log *slog.Logger) {
	defer close(l.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := l.conn.Ping(ctx)
			cancel()
			if err != nil {
				if log != nil {
					log.Error("pgstore: lost the connection holding the leader lock", "err", err)
				}
				close(l.lost)
				return
			}
		}
	}
}

// Lost is closed when the lock's connection failed.
func (l *Leader) Lost() <-chan struct{} { return l.lost }

// Release gives the lock up (closing its connection).
func (l *Leader) Release() {
	close(l.stop)
	<-l.done
	l.conn.Close(context.Background())
}
