package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/proofow/powbroker/broker/receipt"
	"github.com/proofow/powbroker/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newReceiptCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "receipt", Short: "Work receipts: verify a signed receipt offline"}
	var pubkey, share string
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a receipt's BIP 340 signature (and, with --share, one share's inclusion) offline",
		Long: `Check a work receipt offline: its BIP 340 Schnorr signature over the fields (see
README "Work receipts"), by the key it names or, with --pubkey, by that key only.
With --share PROOF (a proof document from GET /v1/orders/{id}/receipt/proof?share=HASH)
it also checks that the share is one of the receipt's accepted shares. FILE may be - for
stdin. Exit 0 when everything holds, 1 with the reason when not, 2 on misuse.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pubkey != "" {
				if b, err := hex.DecodeString(pubkey); err != nil || len(b) != 32 {
					return cli.Usagef("--pubkey %q: want 64 hex digits (a 32-byte x-only key)", pubkey)
				}
			}
			data, err := readDoc(args[0])
			if err != nil {
				return err
			}
			r, err := receipt.Parse(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := receipt.Verify(r, pubkey); err != nil {
				return fmt.Errorf("receipt %s is NOT valid: %w", args[0], err)
			}
			out := map[string]any{"valid": true, "order_id": r.OrderID, "txid": r.Txid, "state": r.State,
				"credited_work": r.CreditedWork, "required_work": r.RequiredWork, "shares": r.Shares, "public_key": r.PublicKey}
			msg := fmt.Sprintf("receipt valid: order %s, txid %s, %s, %.8g of %.8g work units in %d shares, signed by %s",
				r.OrderID, r.Txid, r.State, r.CreditedWork, r.RequiredWork, r.Shares, r.PublicKey)
			if share != "" {
				pd, err := readDoc(share)
				if err != nil {
					return err
				}
				p, err := receipt.ParseProof(pd)
				if err != nil {
					return fmt.Errorf("%s: %w", share, err)
				}
				if err := receipt.VerifyProof(r, p); err != nil {
					return fmt.Errorf("share proof %s is NOT valid: %w", share, err)
				}
				out["share"] = p.Share
				msg += fmt.Sprintf("; share %s is included (leaf %d of %d)", p.Share, p.Index, p.Leaves)
			}
			if asJSON {
				line, _ := json.Marshal(out)
				msg = string(line)
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	verify.Flags().StringVar(&pubkey, "pubkey", "", "the broker's receipt key (hex, x-only, as in GET /v1/status public_key); default: the key the receipt names")
	verify.Flags().StringVar(&share, "share", "", "a share inclusion proof (JSON file) to check against the receipt")
	verify.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.AddCommand(verify)
	return cmd
}

// readDoc reads a bounded document from a file or stdin ("-").
func readDoc(name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, cli.Usagef("%v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, receipt.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > receipt.MaxBytes {
		return nil, cli.Usagef("%s is larger than %d bytes", name, receipt.MaxBytes)
	}
	return data, nil
}
