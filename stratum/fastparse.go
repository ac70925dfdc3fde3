package stratum

import (
	"bytes"
	"encoding/json"
)

// parseFast reads the common shape of a request line without reflection: an object
// with only "id" (an integer, a plain string or null), "method" (a plain string) and
// "params" (an array of plain strings), where plain means printable ASCII without
// escapes. Anything else reports false and goes to encoding/json; for what it
// accepts, the result equals ParseRequest's (FuzzParseRequest checks that). The
// result never aliases the line: it is copied once, since a reply may be written
// after the reader's buffer moved on.
func parseFast(line []byte) (*Request, bool) {
	b := bytes.Clone(line)
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i++
	r := &Request{}
	var seenID, seenMethod, seenParams bool
	for first := true; ; first = false {
		i = skipWS(b, i)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == '}' {
			if !first {
				return nil, false // a trailing comma or an empty object
			}
			i++
			break
		}
		key, j, ok := plainString(b, i)
		if !ok {
			return nil, false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipWS(b, i+1)
		switch string(key) {
		case "id":
			if seenID {
				return nil, false
			}
			seenID = true
			end, ok := idValue(b, i)
			if !ok {
				return nil, false
			}
			r.ID = json.RawMessage(b[i:end])
			i = end
		case "method":
			if seenMethod {
				return nil, false
			}
			seenMethod = true
			m, j, ok := plainString(b, i)
			if !ok || len(m) == 0 {
				return nil, false
			}
			r.Method = string(m)
			i = j
		case "params":
			if seenParams {
				return nil, false
			}
			seenParams = true
			params, j, ok := plainParams(b, i)
			if !ok {
				return nil, false
			}
			r.Params, i = params, j
		default:
			return nil, false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '}' {
			return nil, false
		}
		i++
		break
	}
	if skipWS(b, i) != len(b) || !seenMethod {
		return nil, false
	}
	return r, true
}

// plainParams reads an array of plain strings starting at b[i]; it returns the
// elements (aliasing b) and the index after the closing bracket.
func plainParams(b []byte, i int) ([]json.RawMessage, int, bool) {
	if i >= len(b) || b[i] != '[' {
		return nil, 0, false
	}
	params := []json.RawMessage{}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return params, i + 1, true
	}
	for {
		start := skipWS(b, i)
		_, j, ok := plainString(b, start)
		if !ok {
			return nil, 0, false
		}
		params = append(params, json.RawMessage(b[start:j]))
		i = skipWS(b, j)
		if i >= len(b) {
			return nil, 0, false
		}
		if b[i] == ']' {
			return params, i + 1, true
		}
		if b[i] != ',' {
			return nil, 0, false
		}
		i++
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a string of printable ASCII without escapes starting at b[i];
// it returns the content and the index after the closing quote.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// idValue accepts null, a plain string or an integer without leading zeros and
// returns the index after it.
func idValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == 'n':
		if len(b)-i >= 4 && string(b[i:i+4]) == "null" {
			return i + 4, true
		}
		return 0, false
	case c == '"':
		_, j, ok := plainString(b, i)
		return j, ok
	}
	j := i
	if b[j] == '-' {
		j++
	}
	if j >= len(b) || b[j] < '0' || b[j] > '9' {
		return 0, false
	}
	if b[j] == '0' {
		j++
	} else {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E' || (b[j] >= '0' && b[j] <= '9')) {
		return 0, false // fractions and exponents go to encoding/json
	}
	return j, true
}
