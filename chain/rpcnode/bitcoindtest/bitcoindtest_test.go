package bitcoindtest_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/proofow/powbroker/chain/rpcnode/bitcoindtest"
)

// TestLifecycle: a wallet node mines, builds a zero-fee transaction the wallet signed,
// keeps its chain across a restart, invalidates and reconsiders a block, syncs with a
// second node, and a node paused when its test ends is still stopped by the cleanup; a
// custom signet node serves templates (mining there is real work: the signet tests do
// it).
func TestLifecycle(t *testing.T) {
	var pids []int
	t.Run("regtest", func(t *testing.T) {
		n := bitcoindtest.Start(t, bitcoindtest.Options{})
		pids = append(pids, n.PID())
		hashes := n.Generate(101)
		if n.Height() != 101 || n.BestHash() != hashes[100] {
			t.Fatalf("height %d tip %s after generating 101", n.Height(), n.BestHash())
		}
		tx := n.ZeroFeeTx(n.NewAddress(bitcoindtest.DefaultWallet, "bech32m"))
		if len(tx.TxIn) != 1 || len(tx.TxIn[0].Witness) == 0 || tx.TxOut[0].Value != 50e8 {
			t.Fatalf("zero-fee spend of a 50 BTC coinbase: %d inputs, witness %d, value %d", len(tx.TxIn), len(tx.TxIn[0].Witness), tx.TxOut[0].Value)
		}
		var accept []struct {
			Allowed      bool   `json:"allowed"`
			RejectReason string `json:"reject-reason"`
		}
		n.Call(&accept, "testmempoolaccept", []string{bitcoindtest.TxHex(tx)})
		if accept[0].Allowed || accept[0].RejectReason != "min relay fee not met" {
			t.Fatalf("testmempoolaccept of a zero-fee tx: %+v, want refused for the relay fee", accept)
		}
		mined := n.GenerateBlock(n.MiningAddr, tx)
		if info := n.Info(mined); len(info.Tx) != 2 || info.Tx[1] != tx.TxHash().String() {
			t.Fatalf("generateblock holds %v, want the coinbase and %s", info.Tx, tx.TxHash())
		}
		n.Invalidate(mined)
		if n.BestHash() != hashes[100] {
			t.Fatal("invalidateblock did not move the tip back")
		}
		n.Reconsider(mined)
		url := n.URL()
		n.Restart()
		pids = append(pids, n.PID())
		if n.URL() != url || n.BestHash() != mined {
			t.Fatalf("after restart: %s at %s, want %s at %s", n.URL(), n.BestHash(), url, mined)
		}
		other := bitcoindtest.Start(t, bitcoindtest.Options{NoWallet: true})
		pids = append(pids, other.PID())
		other.Connect(n)
		n.WaitTip(other)
		other.Disconnect(n)
		n.Pause()
	})
	t.Run("signet", func(t *testing.T) {
		n := bitcoindtest.Start(t, bitcoindtest.Options{Signet: true, SignetChallenge: "51"})
		pids = append(pids, n.PID())
		var ci struct {
			Chain string `json:"chain"`
		}
		n.Call(&ci, "getblockchaininfo")
		if ci.Chain != "signet" {
			t.Fatalf("chain %q, want signet", ci.Chain)
		}
		var tmpl struct {
			Height int32 `json:"height"`
		}
		n.Call(&tmpl, "getblocktemplate", map[string]any{"rules": []string{"segwit", "signet"}})
		if tmpl.Height != 1 {
			t.Fatalf("signet template at height %d, want 1", tmpl.Height)
		}
	})
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("bitcoind %d still exists after its test ended (kill -0: %v)", pid, err)
		}
	}
}
