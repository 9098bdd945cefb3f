package registry_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ensue-dev/ensue/internal/servertest"
)

// FuzzRegistration sends garbage to the registration, check and settings
// routes of a real server: nothing may crash it or answer 5xx.
func FuzzRegistration(f *testing.F) {
	for _, seed := range []struct{ typ, body string }{
		{"order.placed", orderV1},
		{"t", `{}`},
		{"t", `true`},
		{"a/b", `{"$ref": "#/$defs/x", "$defs": {"x": {"$ref": "#/$defs/x"}}}`},
		{"t", `{"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"a": {"type": "string"}}, "properties": {"a": {"$ref": "#/definitions/a"}}}`},
		{"t", `{"type": "string", "pattern": "("}`},
		{"t", `{"allOf": [{"$ref": "#"}]}`},
		{"", `{`},
		{"t", strings.Repeat(`{"items":`, 200)},
	} {
		f.Add(seed.typ, seed.body)
	}
	srv := servertest.Start(f)
	c := &http.Client{}
	f.Fuzz(func(t *testing.T, typ, body string) {
		for _, target := range []struct{ method, path string }{
			{"PUT", "/v1/schemas/" + url.PathEscape(typ)},
			{"POST", "/v1/schemas/" + url.PathEscape(typ) + "/check"},
			{"PUT", "/v1/schemas/" + url.PathEscape(typ) + "?force=true"},
			{"PUT", "/v1/namespaces/default/settings"},
		} {
			req, err := http.NewRequest(target.method, srv.URL+target.path, strings.NewReader(body))
			if err != nil {
				return
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", target.method, target.path, err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("%s %s with %q: %d", target.method, target.path, body, resp.StatusCode)
			}
		}
	})
}
