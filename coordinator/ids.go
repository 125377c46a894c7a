package coordinator

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"
)

// maxIDBytes is the longest document id, in bytes.
const maxIDBytes = 512

// checkID rejects a document id that is empty, too long or not valid UTF-8,
// naming field. Protobuf strings must be UTF-8, and a JSON encoder would
// replace the bad bytes, so such an id could never be read back as sent.
func checkID(field, id string) error {
	switch {
	case id == "":
		return badRequest(field, "must not be empty")
	case len(id) > maxIDBytes:
		return badRequest(field, "longer than %d bytes", maxIDBytes)
	case !utf8.ValidString(id):
		return badRequest(field, "is not valid UTF-8")
	}
	return nil
}

// pathID returns the {id} path parameter of r, or a 400 naming "id".
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	return id, checkID("id", id)
}

// rawIDValid reports whether the "id" member of one JSON document, as sent,
// is valid UTF-8. encoding/json silently replaces invalid bytes and unpaired
// surrogate escapes with U+FFFD, so a decoded id that holds U+FFFD is checked
// again against the raw text; other ids need no second look.
func rawIDValid(doc json.RawMessage, decoded string) bool {
	if !containsRuneError(decoded) {
		return true
	}
	var raw struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return false
	}
	return validJSONString(raw.ID)
}

func containsRuneError(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError {
			return true
		}
	}
	return false
}

// validJSONString reports whether tok, a JSON string token with its quotes,
// is valid UTF-8 once unescaped: its bytes are UTF-8 and every \u escape of a
// UTF-16 surrogate is half of a well-formed pair.
func validJSONString(tok []byte) bool {
	if !utf8.Valid(tok) {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] != '\\' {
			continue
		}
		i++
		if i >= len(tok) || tok[i] != 'u' {
			continue // a one-character escape; the loop steps over it
		}
		u, ok := hex4(tok, i+1)
		if !ok {
			return false
		}
		i += 4
		switch {
		case u >= 0xDC00 && u <= 0xDFFF: // a low surrogate with no high one before it
			return false
		case u >= 0xD800 && u <= 0xDBFF:
			if i+2 >= len(tok) || tok[i+1] != '\\' || tok[i+2] != 'u' {
				return false
			}
			lo, ok := hex4(tok, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}

// hex4 parses the four hex digits at b[at:].
func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}
