package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/server"
	"github.com/ensue-dev/ensue/internal/servertest"
)

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, contentType, body string, header ...string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	require.NoError(c.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, b
}

func (c client) want(method, path, body string, status int, out any) []byte {
	c.t.Helper()
	got, b := c.do(method, path, "application/json", body)
	require.Equal(c.t, status, got, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(b, out), "%s", b)
	}
	return b
}

// problem is the part of a problem+json answer the tests look at.
type problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Index  *int   `json:"index"`
	Errors []struct {
		Pointer string `json:"pointer"`
		Keyword string `json:"keyword"`
		Message string `json:"message"`
	} `json:"errors"`
}

const orderV1 = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "total": {"type": "number", "minimum": 0},
    "email": {"type": "string", "format": "email"},
    "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
    "payment": {"oneOf": [
      {"type": "object", "properties": {"card": {"type": "string"}}, "required": ["card"], "additionalProperties": false},
      {"type": "object", "properties": {"iban": {"type": "string"}}, "required": ["iban"], "additionalProperties": false}
    ]}
  },
  "required": ["total"],
  "$defs": {"item": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}, "required": ["sku", "qty"]}}
}`

func event(id, data string) string {
	return fmt.Sprintf(`{"specversion": "1.0", "id": %q, "source": "/shop", "type": "order.placed", "subject": "o-%s", "data": %s}`, id, id, data)
}

func TestRegisterValidateEnforce(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}

	var reg struct {
		Type    string `json:"type"`
		Version int    `json:"version"`
	}
	c.want("PUT", "/v1/schemas/order.placed", orderV1, 201, &reg)
	require.Equal(t, 1, reg.Version)
	// The same schema, written differently, is the same version.
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, []byte(orderV1)))
	c.want("PUT", "/v1/schemas/order.placed", compact.String(), 200, &reg)
	require.Equal(t, 1, reg.Version)

	// A new required property breaks backward compatibility.
	v2 := strings.Replace(orderV1, `"required": ["total"]`, `"required": ["total", "currency"]`, 1)
	var p problem
	c.want("PUT", "/v1/schemas/order.placed", v2, 409, &p)
	require.NotEmpty(t, p.Errors)
	require.Contains(t, p.Errors[0].Message, "currency")
	var check struct {
		Compatible bool `json:"compatible"`
	}
	c.want("POST", "/v1/schemas/order.placed/check", v2, 200, &check)
	require.False(t, check.Compatible)

	// warn (the default): stored, and the record carries the violations.
	var res struct {
		Position uint64 `json:"position"`
	}
	c.want("POST", "/v1/events", event("w1", `{"total": -5}`), 200, &res)
	var rec struct {
		Event map[string]any `json:"event"`
	}
	c.want("GET", fmt.Sprintf("/v1/events/%d", res.Position), "", 200, &rec)
	note, _ := rec.Event["ensueviolations"].(string)
	require.Contains(t, note, `"/data/total"`)
	require.Contains(t, note, "/v1/schemas/order.placed/versions/1")

	c.want("PUT", "/v1/namespaces/default/settings", `{"schema_mode": "enforce"}`, 200, nil)

	// enforce: every violation, each with its pointer and keyword.
	p = problem{}
	c.want("POST", "/v1/events", event("e1", `{"total": -5, "email": "not-an-email", "items": [{"sku": "a", "qty": 0}], "payment": {"card": "x", "iban": "y"}}`), 422, &p)
	require.Equal(t, "urn:ensue:problem:schema-violation", p.Type)
	got := map[string]string{}
	for _, e := range p.Errors {
		got[e.Pointer] = e.Keyword
	}
	require.Equal(t, "minimum", got["/data/total"])
	require.Equal(t, "format", got["/data/email"])
	require.Equal(t, "minimum", got["/data/items/0/qty"])
	require.Contains(t, got, "/data/payment")
	c.want("POST", "/v1/events", event("e2", `{"total": 10, "items": [{"sku": "a", "qty": 2}], "payment": {"iban": "DE00"}}`), 200, nil)

	// A batch: the bad event fails alone.
	var batch struct {
		Results []json.RawMessage `json:"results"`
	}
	body := "[" + event("b1", `{"total": 1}`) + "," + event("b2", `{"total": "ten"}`) + "," + event("b3", `{"total": 3}`) + "]"
	_, b := c.do("POST", "/v1/events", "application/cloudevents-batch+json", body)
	require.NoError(t, json.Unmarshal(b, &batch), "%s", b)
	require.Len(t, batch.Results, 3)
	require.Contains(t, string(batch.Results[0]), `"position"`)
	require.Contains(t, string(batch.Results[1]), `schema-violation`)
	require.Contains(t, string(batch.Results[2]), `"position"`)

	// Binary mode.
	status, b := c.do("POST", "/v1/events", "application/json", `{"total": -1}`,
		"ce-specversion", "1.0", "ce-id", "bin1", "ce-source", "/shop", "ce-type", "order.placed")
	require.Equal(t, 422, status, "%s", b)

	// Forced, v2 becomes the latest; an event may pin v1.
	c.want("PUT", "/v1/schemas/order.placed?force=true", v2, 201, &reg)
	require.Equal(t, 2, reg.Version)
	c.want("POST", "/v1/events", event("p1", `{"total": 1}`), 422, nil) // no currency
	pinned := strings.Replace(event("p2", `{"total": 1}`), `"data"`, `"dataschema": "/v1/schemas/order.placed/versions/1", "data"`, 1)
	c.want("POST", "/v1/events", pinned, 200, nil)
	missing := strings.Replace(event("p3", `{"total": 1}`), `"data"`, `"dataschema": "/v1/schemas/order.placed/versions/9", "data"`, 1)
	p = problem{}
	c.want("POST", "/v1/events", missing, 422, &p)
	require.Equal(t, "/dataschema", p.Errors[0].Pointer)

	// The latest version validates: it cannot go while enforced; older can.
	c.want("DELETE", "/v1/schemas/order.placed/versions/2", "", 409, nil)
	c.want("DELETE", "/v1/schemas/order.placed/versions/1", "", 204, nil)
	c.want("GET", "/v1/schemas/order.placed/versions/1", "", 404, nil)
	var latest struct {
		Version int `json:"version"`
	}
	c.want("GET", "/v1/schemas/order.placed", "", 200, &latest)
	require.Equal(t, 2, latest.Version)

	var list struct {
		Schemas []struct {
			Type          string `json:"type"`
			LatestVersion int    `json:"latest_version"`
			Versions      int    `json:"versions"`
		} `json:"schemas"`
	}
	c.want("GET", "/v1/schemas", "", 200, &list)
	require.Len(t, list.Schemas, 1)
	require.Equal(t, 2, list.Schemas[0].LatestVersion)
	require.Equal(t, 1, list.Schemas[0].Versions)

	_, m := c.do("GET", "/metrics", "", "")
	require.Contains(t, string(m), `ensue_schema_violations_total{mode="enforce",namespace="default"}`)
	require.Contains(t, string(m), `ensue_schema_violations_total{mode="warn",namespace="default"} 1`)
}

func TestSchemasSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := servertest.StartWith(t, servertest.Options{Config: server.Config{DataDir: dir}})
	c := client{t: t, base: s1.URL}
	c.want("PUT", "/v1/schemas/order.placed", orderV1, 201, nil)
	c.want("PUT", "/v1/schemas/order.placed/compatibility", `{"compatibility": "full"}`, 200, nil)
	c.want("PUT", "/v1/namespaces/default/settings", `{"schema_mode": "enforce"}`, 200, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s1.Server.Stop(ctx))

	s2 := servertest.StartWith(t, servertest.Options{Config: server.Config{DataDir: dir}})
	c = client{t: t, base: s2.URL}
	var v struct {
		Version       int    `json:"version"`
		Compatibility string `json:"compatibility"`
	}
	c.want("GET", "/v1/schemas/order.placed", "", 200, &v)
	require.Equal(t, 1, v.Version)
	require.Equal(t, "full", v.Compatibility)
	c.want("POST", "/v1/events", event("x", `{"total": -1}`), 422, nil)
}

func TestInferThenEnforce(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	statuses := []string{"new", "paid", "shipped"}
	for i := range 40 {
		data := fmt.Sprintf(`{"total": %d.5, "status": %q, "customer": {"email": "c%d@example.com", "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca4%02d"}, "placed_at": "2026-11-29T10:%02d:00Z", "lines": [{"sku": "s%d", "qty": %d}]}`,
			i, statuses[i%3], i, i, i, i, i%5+1)
		c.want("POST", "/v1/events", event(fmt.Sprint("i", i), data), 200, nil)
	}
	require.NoError(t, srv.Server.WaitIndexed(context.Background()))
	status, inferred := c.do("POST", "/v1/schemas/order.placed/infer", "", "")
	require.Equal(t, 200, status, "%s", inferred)
	require.Contains(t, string(inferred), `"enum"`)
	require.Contains(t, string(inferred), `"date-time"`)
	c.want("PUT", "/v1/schemas/order.placed", string(inferred), 201, nil)
	c.want("PUT", "/v1/namespaces/default/settings", `{"schema_mode": "enforce"}`, 200, nil)
	good := `{"total": 3.5, "status": "paid", "customer": {"email": "z@example.com", "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca499"}, "placed_at": "2026-11-29T11:00:00Z", "lines": []}`
	c.want("POST", "/v1/events", event("good", good), 200, nil)
	for name, bad := range map[string]string{
		"status outside the enum": strings.Replace(good, `"paid"`, `"lost"`, 1),
		"a required field gone":   strings.Replace(good, `"total": 3.5, `, ``, 1),
		"a malformed date-time":   strings.Replace(good, `2026-11-29T11:00:00Z`, `yesterday`, 1),
	} {
		status, b := c.do("POST", "/v1/events", "application/cloudevents+json", event("bad-"+strings.ReplaceAll(name, " ", "-"), bad))
		require.Equal(t, 422, status, "%s: %s", name, b)
	}
}

func TestLintEnvelope(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	c.want("POST", "/v1/events", `{"specversion": "1.0", "id": "1", "source": "/s", "type": "bare"}`, 200, nil)
	c.want("POST", "/v1/events", `{"specversion": "1.0", "id": "2", "source": "/s", "type": "bare", "subject": "x"}`, 200, nil)
	c.want("POST", "/v1/events", `{"specversion": "1.0", "id": "3", "source": "/s", "type": "full", "subject": "x", "time": "2026-11-29T10:00:00Z", "correlationid": "c"}`, 200, nil)
	var lint struct {
		Examined int `json:"events_examined"`
		Types    []struct {
			Type               string `json:"type"`
			Events             int    `json:"events"`
			MissingSubject     int    `json:"missing_subject"`
			MissingTime        int    `json:"missing_time"`
			MissingCorrelation int    `json:"missing_correlationid"`
		} `json:"types"`
	}
	c.want("GET", "/v1/lint/envelope", "", 200, &lint)
	require.Equal(t, 3, lint.Examined)
	require.Len(t, lint.Types, 1)
	require.Equal(t, "bare", lint.Types[0].Type)
	require.Equal(t, 2, lint.Types[0].Events)
	require.Equal(t, 1, lint.Types[0].MissingSubject)
	require.Equal(t, 2, lint.Types[0].MissingTime)
	require.Equal(t, 2, lint.Types[0].MissingCorrelation)
}

func TestBadSchemasAreRefused(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	for _, body := range []string{
		`{`, `[]`, `{"type": 12}`, `{"$schema": "http://json-schema.org/draft-04/schema#"}`,
		`{"$ref": "https://example.com/remote.json"}`, strings.Repeat("[", 10000),
	} {
		status, b := c.do("PUT", "/v1/schemas/t", "application/json", body)
		require.Equal(t, 400, status, "%s → %s", body[:min(len(body), 40)], b)
		require.Contains(t, string(b), "invalid-schema")
	}
	c.want("PUT", "/v1/namespaces/default/settings", `{"schema_mode": "strict"}`, 400, nil)
	c.want("PUT", "/v1/schemas/t/compatibility", `{"compatibility": "sideways"}`, 400, nil)
}

// TestFlowsEmitUnderTheSameSchemas: in enforce mode, an event a flow emits
// meets its type's schema like a producer's; a bad one dead-letters the run.
func TestFlowsEmitUnderTheSameSchemas(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	c.want("PUT", "/v1/schemas/order.flagged", `{"type": "object", "properties": {"total": {"type": "integer"}}, "required": ["total"]}`, 201, nil)
	c.want("PUT", "/v1/namespaces/default/settings", `{"schema_mode": "enforce"}`, 200, nil)
	status, b := c.do("PUT", "/v1/flows/flag", "application/yaml", `
name: flag
on: {type: order.placed}
steps:
  - id: flag
    emit: {type: order.flagged, data: '{"total": string(event.data.total)}'}
`)
	require.Equal(t, 201, status, "%s", b)
	var res struct {
		Position uint64 `json:"position"`
	}
	c.want("POST", "/v1/events", event("f1", `{"total": 5}`), 200, &res)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var run struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		status, b := c.do("GET", fmt.Sprintf("/v1/runs/flag-%d", res.Position), "", "")
		if status == 200 {
			require.NoError(t, json.Unmarshal(b, &run))
			if run.Status == "dead_lettered" {
				require.Contains(t, run.Error, "does not match its schema")
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "run not dead-lettered: %s", b)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestVersionNumbersAreNeverReused(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	c := client{t: t, base: srv.URL}
	c.want("PUT", "/v1/namespaces/default/settings", `{"schema_mode": "off"}`, 200, nil)
	c.want("PUT", "/v1/schemas/t/compatibility", `{"compatibility": "none"}`, 200, nil)
	var cm struct {
		Compatibility string `json:"compatibility"`
	}
	c.want("GET", "/v1/schemas/t/compatibility", "", 200, &cm)
	require.Equal(t, "none", cm.Compatibility)
	c.want("PUT", "/v1/schemas/t", `{"type": "object"}`, 201, nil)
	c.want("PUT", "/v1/schemas/t", `{"type": "string"}`, 201, nil)
	c.want("DELETE", "/v1/schemas/t/versions/2", "", 204, nil)
	var v struct {
		Version int `json:"version"`
	}
	c.want("PUT", "/v1/schemas/t", `{"type": "integer"}`, 201, &v)
	require.Equal(t, 3, v.Version, "version 2 was deleted: its number is not given again")
	var p problem
	c.want("PUT", "/v1/schemas/t/compatibility", `{"compatibility": "sideways"}`, 400, &p)
	require.Equal(t, "urn:ensue:problem:invalid-request", p.Type)
}
