package client

import (
	"errors"
	"testing"
)

// FuzzDecodeError checks that any error answer gives an *Error with a code
// that maps to exactly one sentinel.
func FuzzDecodeError(f *testing.F) {
	f.Add(400, []byte(`{"error":{"code":"bad_request","message":"m","field":"k"}}`))
	f.Add(503, []byte(`{"status":"starting"}`))
	f.Add(502, []byte(`<html></html>`))
	f.Add(404, []byte(``))
	f.Add(500, []byte(`{"error":{"code":"","message":"x"}}`))
	f.Add(418, []byte(`{"error":"not an object"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := decodeError(status, body)
		if e.StatusCode != status || e.Code == "" || e.Error() == "" {
			t.Fatalf("got %#v", e)
		}
		n := 0
		for _, s := range []error{ErrBadRequest, ErrNotFound, ErrConflict, ErrTooLarge, ErrUnavailable, ErrTimeout, ErrInternal} {
			if errors.Is(e, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%#v matches %d sentinels, want 1", e, n)
		}
	})
}
