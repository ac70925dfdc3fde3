package broker

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzParseTx: any input either parses to a transaction whose serialization is exactly
// the input, or gets a problem of a transaction kind; never a panic.
func FuzzParseTx(f *testing.F) {
	for _, s := range []string{
		"", "zz", "abc", "0100000000", "00",
		// A real mainnet transaction (block 170, the first bitcoin transfer).
		"0100000001c997a5e56e104102fa209c6a852dd90660a20b2d9c352423edce25857fcd3704000000004847304402204e45e16932b8af514961a1d3a1a25fdf3f4f7732e9d624c6c61548ab5fb8cd410220181522ec8eca07de4860a4acdd12909d831cc56cbbac4622082221a8768d1d0901ffffffff0200ca9a3b00000000434104ae1a62fe09c5f51b13905f07f06b99a2f7159b2225f374cd378d71302fa28414e7aab37397f554a7df5f142c21c1b7303b8a0626f1baded5c72a704f7e6cd84cac00286bee0000000043410411db93e1dcdb8a016b49840f8c53bc1eb68a382e97b1482ecad7b148a6909a5cb2e0eaddfb84ccf9744464f82e160bfa9b8b64f9d4c03f999b8643f656b412a3ac00000000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tx, raw, err := ParseTx(s, 100_000)
		if err != nil {
			switch KindOf(err) {
			case KindInvalidHex, KindInvalidTx, KindTrailingBytes, KindTxTooLarge:
			default:
				t.Fatalf("unexpected kind %s: %v", KindOf(err), err)
			}
			return
		}
		var buf bytes.Buffer
		if err := tx.Serialize(&buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), raw) {
			t.Fatalf("reserialized %x, parsed from %x", buf.Bytes(), raw)
		}
		if d, _ := hex.DecodeString(strings.TrimSpace(s)); !bytes.Equal(d, raw) {
			t.Fatalf("raw %x is not the input %q", raw, s)
		}
	})
}
