package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/shoal-search/shoal/api"
)

// Sentinel errors, one per API error code. Every *Error returned by a method
// matches the sentinel of its code under errors.Is.
var (
	// ErrBadRequest matches a 400 answer: the request was malformed or named
	// a missing field, a wrong dimension, a non-finite value and so on.
	ErrBadRequest = errors.New("client: bad request")
	// ErrUnauthorized matches a 401 answer: the call carried no API key, or
	// one the cluster does not know (never created, or deleted).
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrForbidden matches a 403 answer: the API key's role may not make
	// this call (a read key that writes, say).
	ErrForbidden = errors.New("client: forbidden")
	// ErrNotFound matches a 404 answer: no such collection or document.
	ErrNotFound = errors.New("client: not found")
	// ErrConflict matches a 409 answer, such as creating a collection that
	// already exists.
	ErrConflict = errors.New("client: conflict")
	// ErrTooLarge matches a 413 answer: the body or batch is over a limit.
	ErrTooLarge = errors.New("client: too large")
	// ErrUnavailable matches a 503 answer: the cluster cannot serve the
	// request now (no leader, not ready); retrying later may succeed.
	ErrUnavailable = errors.New("client: unavailable")
	// ErrTimeout matches a 504 answer: the coordinator's deadline passed
	// before the shards answered. A deadline of the caller's own context is
	// reported as context.DeadlineExceeded instead.
	ErrTimeout = errors.New("client: timeout")
	// ErrInternal matches a 500 answer and any other unexpected status.
	ErrInternal = errors.New("client: internal error")
)

// Error is a failed request as the server described it.
type Error struct {
	// StatusCode is the HTTP status of the answer, or 0 when the client
	// rejected the request before sending it (a document id that is not
	// valid UTF-8).
	StatusCode int
	// Code is the API error code (api.CodeBadRequest, ...).
	Code string
	// Message is the server's description.
	Message string
	// Field is the JSON path of the offending request field, such as
	// "documents[3].dense[7]", or empty.
	Field string
}

// Error formats the error as "shoal: CODE: FIELD: MESSAGE".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("shoal: ")
	b.WriteString(e.Code)
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Is reports whether target is the sentinel of e's code, so that
// errors.Is(err, client.ErrNotFound) works on any returned error.
func (e *Error) Is(target error) bool {
	return target == sentinel(e.Code)
}

// sentinel returns the sentinel error of an API error code.
func sentinel(code string) error {
	switch code {
	case api.CodeBadRequest:
		return ErrBadRequest
	case api.CodeUnauthorized:
		return ErrUnauthorized
	case api.CodeForbidden:
		return ErrForbidden
	case api.CodeNotFound:
		return ErrNotFound
	case api.CodeConflict:
		return ErrConflict
	case api.CodeTooLarge:
		return ErrTooLarge
	case api.CodeUnavailable:
		return ErrUnavailable
	case api.CodeTimeout:
		return ErrTimeout
	}
	return ErrInternal
}

// decodeError builds the *Error of a non-2xx answer from its status and body.
// A body that is not an api.ErrorResponse (a proxy's HTML page, say) still
// gives an error whose code follows from the status.
func decodeError(status int, body []byte) *Error {
	e := &Error{StatusCode: status}
	var r api.ErrorResponse
	if err := json.Unmarshal(body, &r); err == nil && r.Error.Code != "" {
		e.Code, e.Message, e.Field = r.Error.Code, r.Error.Message, r.Error.Field
		return e
	}
	e.Code = api.CodeForStatus(status)
	var h api.Health
	if err := json.Unmarshal(body, &h); err == nil && h.Status != "" {
		e.Message = h.Status // GET /v1/health answers 503 with the reason
		for i, sh := range h.Shards {
			sep := ", "
			if i == 0 {
				sep = ": "
			}
			e.Message += fmt.Sprintf("%s%s/%d %s", sep, sh.Collection, sh.Shard, sh.Reason)
		}
		return e
	}
	e.Message = strings.TrimSpace(string(body))
	if len(e.Message) > 200 {
		e.Message = strings.ToValidUTF8(e.Message[:200], "") + "..."
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// checkID rejects an id that is not valid UTF-8 before it is sent: JSON
// encoding would replace the bad bytes, so the server would store or look up
// a different id. The error matches ErrBadRequest and names field, as the
// server's answer would.
func checkID(field, id string) error {
	if utf8.ValidString(id) {
		return nil
	}
	return &Error{Code: api.CodeBadRequest, Field: field, Message: "is not valid UTF-8"}
}
