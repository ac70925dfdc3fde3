package main

import (
	"bufio"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/spf13/cobra"

	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/proofow/powbroker/miner"
)

type scanFound struct {
	Nonce uint32 `json:"nonce"`
	Hash  string `json:"hash"`
}

// scanWindow is how many nonces are scanned, sorted and printed at a time, so output
// streams and memory stays bounded even when most nonces meet the target.
const scanWindow = 1 << 22

// scanRange scans [start, start+count) window by window and prints the finds in nonce
// order: one line each, or one JSON object {"found":[...],"hashes":N,"seconds":S}.
func scanRange(cmd *cobra.Command, k miner.Kernel, threads int, h *miner.Header, start uint32, count uint64, tg *miner.Target, asJSON bool) error {
	out := bufio.NewWriter(cmd.OutOrStdout())
	if asJSON {
		out.WriteString(`{"found":[`)
	}
	first := true
	begin := time.Now()
	var total uint64
	var found []miner.Found
	for off := uint64(0); off < count; off += scanWindow {
		found = found[:0]
		n, err := miner.ScanParallel(cmd.Context(), k, threads, h, start+uint32(off), min(scanWindow, count-off), tg, func(f miner.Found) {
			found = append(found, f)
		})
		total += n
		if err != nil {
			out.Flush()
			return fmt.Errorf("scan stopped after %d hashes: %w", total, err)
		}
		slices.SortFunc(found, func(a, b miner.Found) int { return cmp.Compare(a.Nonce, b.Nonce) })
		for _, f := range found {
			item := scanFound{Nonce: f.Nonce, Hash: chainhash.Hash(f.Hash).String()}
			if asJSON {
				if !first {
					out.WriteByte(',')
				}
				b, err := json.Marshal(item)
				if err != nil {
					return err
				}
				out.Write(b)
			} else {
				fmt.Fprintf(out, "%d %s\n", item.Nonce, item.Hash)
			}
			first = false
		}
	}
	if asJSON {
		secs, err := json.Marshal(time.Since(begin).Seconds())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, `],"hashes":%d,"seconds":%s}`+"\n", total, secs)
	}
	return out.Flush()
}

func newScanCmd() *cobra.Command {
	var (
		headerHex, targetHex, bitsHex, kernelName string
		start                                     uint32
		count                                     uint64
		threads                                   int
		asJSON                                    bool
	)
	c := &cobra.Command{
		Use:   "scan --header HEX --start N --count C (--target HEX | --bits HEX)",
		Short: "Scan nonces [N, N+C) of a header and print every nonce whose sha256d meets the target",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := parseHeader(headerHex)
			if err != nil {
				return err
			}
			if count == 0 || count > miner.MaxCount {
				return cli.Usagef("--count must be between 1 and 4294967296, got %d", count)
			}
			if uint64(start)+count > miner.MaxCount {
				return cli.Usagef("--start %d plus --count %d passes the last nonce 4294967295", start, count)
			}
			tg, err := parseTarget(cmd, targetHex, bitsHex)
			if err != nil {
				return err
			}
			k, err := cli.Kernel(kernelName)
			if err != nil {
				return err
			}
			if threads < 1 {
				return cli.Usagef("--threads must be at least 1, got %d", threads)
			}
			return scanRange(cmd, k, threads, h, start, count, &tg, asJSON)
		},
	}
	f := c.Flags()
	f.StringVar(&headerHex, "header", "", "80-byte serialized header, 160 hex characters (its nonce field is ignored)")
	f.Uint32Var(&start, "start", 0, "first nonce")
	f.Uint64Var(&count, "count", 0, "number of nonces (1 to 2^32; start+count must not pass 2^32)")
	f.StringVar(&targetHex, "target", "", "target, 64 hex characters, display (big-endian) order")
	f.StringVar(&bitsHex, "bits", "", "target in compact form, 8 hex characters (e.g. 1d00ffff), instead of --target")
	cli.KernelFlag(c, &kernelName)
	cli.ThreadsFlag(c, &threads)
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	for _, name := range []string{"header", "start", "count"} {
		_ = c.MarkFlagRequired(name)
	}
	return c
}

func parseHeader(s string) (*miner.Header, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, cli.Usagef("--header is not hex: %v", err)
	}
	if len(b) != len(miner.Header{}) {
		return nil, cli.Usagef("--header must be 80 bytes (160 hex characters), got %d bytes", len(b))
	}
	var h miner.Header
	copy(h[:], b)
	return &h, nil
}

// parseTarget reads exactly one of --target (display order hex) and --bits (compact).
func parseTarget(cmd *cobra.Command, targetHex, bitsHex string) (miner.Target, error) {
	hasT, hasB := cmd.Flags().Changed("target"), cmd.Flags().Changed("bits")
	switch {
	case hasT && hasB:
		return miner.Target{}, cli.Usagef("give either --target or --bits, not both")
	case hasT:
		b, err := hex.DecodeString(targetHex)
		if err != nil {
			return miner.Target{}, cli.Usagef("--target is not hex: %v", err)
		}
		if len(b) != 32 {
			return miner.Target{}, cli.Usagef("--target must be 32 bytes (64 hex characters), got %d bytes", len(b))
		}
		var t miner.Target
		for i := range b {
			t[i] = b[31-i]
		}
		return t, nil
	case hasB:
		if len(bitsHex) != 8 {
			return miner.Target{}, cli.Usagef("--bits must be 8 hex characters, got %q", bitsHex)
		}
		v, err := strconv.ParseUint(bitsHex, 16, 32)
		if err != nil {
			return miner.Target{}, cli.Usagef("--bits is not hex: %q", bitsHex)
		}
		t := blockchain.CompactToBig(uint32(v))
		if t.Sign() <= 0 {
			return miner.Target{}, cli.Usagef("--bits %s is not a positive target", bitsHex)
		}
		return miner.TargetFromBig(t), nil
	}
	return miner.Target{}, cli.Usagef("give --target or --bits")
}
