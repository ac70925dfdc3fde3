package btcdtest_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/proofow/powbroker/chain/rpcnode/btcdtest"
)

func TestMain(m *testing.M) { os.Exit(btcdtest.Main(m)) }

// TestLifecycle: a node paused when its test ends is still stopped by the cleanup, a
// restart keeps the ports and wipes the chain, and Generate mines to the address.
func TestLifecycle(t *testing.T) {
	key, err := btcdtest.NewKey("lifecycle")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	t.Run("node", func(t *testing.T) {
		n := btcdtest.Start(t, btcdtest.Options{MiningAddr: key.Addr.EncodeAddress()})
		pids = append(pids, n.PID())
		hashes := n.Generate(3)
		if n.Height() != 3 || n.BestHash() != hashes[2] {
			t.Fatalf("height %d tip %s after generating 3", n.Height(), n.BestHash())
		}
		var cb struct {
			Tx []struct { // btcd names the verbosity-2 transactions "rawtx"
				Vout []struct {
					ScriptPubKey struct {
						Address string `json:"address"`
					} `json:"scriptPubKey"`
				} `json:"vout"`
			} `json:"rawtx"`
		}
		n.Call(&cb, "getblock", hashes[0].String(), 2)
		if len(cb.Tx) == 0 || cb.Tx[0].Vout[0].ScriptPubKey.Address != key.Addr.EncodeAddress() {
			t.Fatalf("coinbase does not pay the mining address: %+v", cb)
		}
		url := n.URL()
		n.Restart()
		pids = append(pids, n.PID())
		if n.URL() != url || n.Height() != 0 {
			t.Fatalf("after restart: %s at height %d, want %s at 0", n.URL(), n.Height(), url)
		}
		n.Pause()
	})
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("btcd %d still exists after its test ended (kill -0: %v)", pid, err)
		}
	}
}
