package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/validate"
	"github.com/shoal-search/shoal/internal/wire"
)

// apiError is an error with its HTTP status and API code.
type apiError struct {
	status int
	body   api.ErrorBody
}

func (e *apiError) Error() string {
	if e.body.Field != "" {
		return e.body.Field + ": " + e.body.Message
	}
	return e.body.Message
}

func badRequest(field, format string, a ...any) error {
	return &apiError{status: http.StatusBadRequest, body: api.ErrorBody{Code: api.CodeBadRequest, Field: field, Message: fmt.Sprintf(format, a...)}}
}

func notFound(format string, a ...any) error {
	return &apiError{status: http.StatusNotFound, body: api.ErrorBody{Code: api.CodeNotFound, Message: fmt.Sprintf(format, a...)}}
}

func unavailable(format string, a ...any) error {
	return &apiError{status: http.StatusServiceUnavailable, body: api.ErrorBody{Code: api.CodeUnavailable, Message: fmt.Sprintf(format, a...)}}
}

func timeout(format string, a ...any) error {
	return &apiError{status: http.StatusGatewayTimeout, body: api.ErrorBody{Code: api.CodeTimeout, Message: fmt.Sprintf(format, a...)}}
}

// fromWire translates a node's error answer.
func fromWire(e *wire.Error) error {
	body := api.ErrorBody{Code: e.Code, Message: e.Message, Field: e.Field}
	switch e.Code {
	case wire.CodeBadRequest:
		return &apiError{status: http.StatusBadRequest, body: body}
	case wire.CodeNotFound:
		return &apiError{status: http.StatusNotFound, body: body}
	case wire.CodeTimeout:
		return &apiError{status: http.StatusGatewayTimeout, body: body}
	case wire.CodeNotLeader, wire.CodeUnavailable:
		body.Code = api.CodeUnavailable
		return &apiError{status: http.StatusServiceUnavailable, body: body}
	}
	body.Code = api.CodeInternal
	return &apiError{status: http.StatusInternalServerError, body: body}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail writes err as an API error body.
func (c *Coordinator) fail(w http.ResponseWriter, op string, err error) {
	var ae *apiError
	var fe *validate.FieldError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &fe):
		ae = &apiError{status: http.StatusBadRequest, body: api.ErrorBody{Code: api.CodeBadRequest, Field: fe.Field, Message: fe.Msg}}
	default:
		c.log.Error("request failed", "op", op, "err", err)
		ae = &apiError{status: http.StatusInternalServerError, body: api.ErrorBody{Code: api.CodeInternal, Message: err.Error()}}
	}
	c.metrics.requests.WithLabelValues(op, strconv.Itoa(ae.status)).Inc()
	writeJSON(w, ae.status, api.ErrorResponse{Error: ae.body})
}

func (c *Coordinator) ok(w http.ResponseWriter, op string, status int, v any, start time.Time) {
	c.metrics.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	c.metrics.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	writeJSON(w, status, v)
}

// decodeBody reads a JSON body strictly: unknown fields, trailing data and
// bodies over the limit are errors that name what went wrong.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, api.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", "malformed JSON: unexpected data after the body")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &apiError{status: http.StatusRequestEntityTooLarge, body: api.ErrorBody{Code: api.CodeTooLarge, Field: "body",
			Message: fmt.Sprintf("the request body exceeds the limit of %d MiB (%d bytes); send fewer documents per request (shoalctl load splits its batches by size on its own)", mbe.Limit>>20, mbe.Limit)}}
	case errors.As(err, &syn):
		return badRequest("", "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return badRequest(field, "cannot decode a JSON %s into %s", typ.Value, typ.Type)
	case errors.Is(err, io.EOF):
		return badRequest("", "empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "malformed JSON: unexpected end of body")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return badRequest(strings.Trim(f, `"`), "unknown field")
	}
	return badRequest("", "malformed JSON: %v", strings.TrimPrefix(msg, "json: "))
}

// decodeUpsert reads an upsert body document by document, so that a type
// error names the document it is in ("documents[3].dense", not
// "documents.dense").
func decodeUpsert(w http.ResponseWriter, r *http.Request) (api.UpsertRequest, error) {
	var raw struct {
		Documents []json.RawMessage `json:"documents"`
	}
	if err := decodeBody(w, r, &raw); err != nil {
		return api.UpsertRequest{}, err
	}
	req := api.UpsertRequest{Documents: make([]api.Document, len(raw.Documents))}
	for i, doc := range raw.Documents {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.DisallowUnknownFields()
		dec.UseNumber()
		if err := dec.Decode(&req.Documents[i]); err != nil {
			err = jsonError(err)
			var ae *apiError
			if errors.As(err, &ae) {
				field := fmt.Sprintf("documents[%d]", i)
				if ae.body.Field != "" && ae.body.Field != "body" {
					field += "." + ae.body.Field
				}
				ae.body.Field = field
			}
			return api.UpsertRequest{}, err
		}
		if !rawIDValid(doc, req.Documents[i].ID) {
			return api.UpsertRequest{}, badRequest(fmt.Sprintf("documents[%d].id", i), "is not valid UTF-8")
		}
	}
	return req, nil
}
