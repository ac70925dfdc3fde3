// Package stratum is a Stratum v1 mining server and client.
//
// The server speaks line-delimited JSON-RPC over TCP to standard mining software:
// mining.configure (BIP 310 version rolling with mask requested & 1fffe000, and
// minimum-difficulty, subscribe-extranonce), mining.subscribe (a unique 4-byte
// extranonce1, extranonce2_size 4; the session id, the extranonce1 in hex, given back
// on reconnect resumes the same extranonce1 when no live session holds it),
// mining.authorize (the worker name is the account token, optionally followed by
// ".rigname"; a password "d=<difficulty>" suggests a start difficulty),
// mining.suggest_difficulty, mining.extranonce.subscribe and mining.submit with 5 or
// 6 params. It sends mining.set_difficulty (always before the first mining.notify),
// mining.notify, mining.set_extranonce (Server.RenewExtranonces),
// mining.set_version_mask (Server.SetVersionMask), client.show_message (when an
// account stops working) and client.reconnect (on shutdown).
//
// Replies echo the request id verbatim and carry "result" and "error" (null or
// [code, "message", null]): 20 other or malformed, 21 job not found (stale), 22
// duplicate, 23 low difficulty, 24 unauthorized (also for an account that no longer
// takes shares, naming its state), 25 not subscribed. Every request with an id is
// answered, unknown methods included.
//
// Each session keeps the last 32 jobs it was sent with the difficulty and
// extranonce1 in force then: a share is judged by its own job's difficulty. Every
// job a session gets carries a later ntime than the one before, so a miner that
// restarts extranonce2 at 0 for each job id never repeats a header when the same pool
// job is sent again (after a difficulty change, a refresh or a resume). Vardiff aims
// at Config.TargetShareInterval per session; difficulties are fractional both ways
// and clamped to [MinDifficulty, min(MaxDifficulty, network difficulty)]. A session
// that saw no new job for JobRefresh gets the current one again.
//
// Limits per connection (Config): the line length (16 KiB), requests per second, an
// idle timeout (a shorter one before the handshake), consecutive bad lines, a slow
// reader's outbox (messages and bytes: a miner that stops reading costs at most
// MaxQueuedBytes, then its connection); and connections in total and per IP.
// Breaking one closes or answers that connection only. Across connections: a remote
// IP that collects BanThreshold strikes (invalid shares, unparsable lines, submits
// before the handshake) within BanWindow is banned for BanDuration; connections are
// admitted at AcceptRate, and sessions still in their handshake share MaxHandshakes
// slots for their pool calls, so a reconnect storm does not starve established
// sessions.
//
// The package knows nothing about orders: it talks to a Pool (authorize a token,
// hand out extranonce1 values, publish jobs, check shares, follow an account). The
// broker's adapter is broker/stratumpool.
//
// The client side, Mine, is what powminer stratum runs: configure, subscribe (with
// resume), extranonce.subscribe, authorize, then follow notify, set_difficulty,
// set_extranonce and set_version_mask, roll extranonce2, version bits and nonces,
// submit, and reconnect with backoff until Stop says the account is done.
package stratum
