// Package mainnet reads the real Bitcoin mainnet blocks 0 to 14131 that btcd ships in its
// module's blockchain/testdata, for tests that want real headers.
package mainnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/btcsuite/btcd/wire"
)

// Magic starts every record of the file (mainnet's network magic, little-endian).
const Magic = 0xd9b4bef9

// File is the name of the data file inside btcd's module directory.
const File = "blockchain/testdata/blk_0_to_14131.dat"

// Block is one block of the file.
type Block struct {
	Height int
	Header wire.BlockHeader
	Raw    [80]byte // the serialized header
	Block  *wire.MsgBlock
}

// Path returns the data file's path in the module cache, asking the go command where the
// btcd module is.
func Path() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/btcsuite/btcd").Output()
	if err != nil {
		return "", fmt.Errorf("mainnet: locate btcd module: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("mainnet: btcd module directory unknown (run go mod download)")
	}
	return filepath.Join(dir, filepath.FromSlash(File)), nil
}

// Load reads every block of the data file at Path.
func Load() ([]Block, error) {
	p, err := Path()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("mainnet: %w", err)
	}
	defer f.Close()
	return Read(f)
}

// Read parses records (little-endian magic, little-endian length, block) until the end or
// until the magic does not match (the file is zero padded after its last block).
func Read(r io.Reader) ([]Block, error) {
	var out []Block
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil
			}
			return nil, fmt.Errorf("mainnet: read record header: %w", err)
		}
		if binary.LittleEndian.Uint32(hdr[:4]) != Magic {
			return out, nil
		}
		n := binary.LittleEndian.Uint32(hdr[4:])
		if n < 80 || n > 4_000_000 {
			return nil, fmt.Errorf("mainnet: block %d: bad length %d", len(out), n)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("mainnet: block %d: %w", len(out), err)
		}
		var b Block
		b.Height = len(out)
		b.Block = new(wire.MsgBlock)
		if err := b.Block.Deserialize(bytes.NewReader(buf)); err != nil {
			return nil, fmt.Errorf("mainnet: block %d: %w", len(out), err)
		}
		b.Header = b.Block.Header
		copy(b.Raw[:], buf[:80])
		out = append(out, b)
	}
}
