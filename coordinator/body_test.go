package coordinator

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-search/shoal/api"
)

func TestOversizedBodyIs413NamingTheLimit(t *testing.T) {
	body := `{"documents":[{"id":"a","attributes":{"x":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}}]}`
	_, err := decodeUpsert(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(body)))
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != http.StatusRequestEntityTooLarge || ae.body.Code != api.CodeTooLarge || ae.body.Field != "body" {
		t.Fatalf("got %v, want a 413 too_large naming the body", err)
	}
	if !strings.Contains(ae.body.Message, "64 MiB") {
		t.Fatalf("message %q does not name the limit", ae.body.Message)
	}
}
