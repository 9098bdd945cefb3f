package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
)

const ordersProjection = `
kind: projection
name: orders
key: event.subject
initial: '{"status": "new", "total": 0, "items": 0}'
on:
  order.placed:  'state.with({"status": "placed", "total": event.data.total})'
  order.item_added: 'state.with({"items": state.items + 1})'
  order.shipped: 'state.with({"status": "shipped"})'
indexes: [status]
`

func call(t *testing.T, method, url, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func TestProjectionsOverHTTP(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	status, b := call(t, "PUT", srv.URL+"/v1/projections/orders", "application/yaml", ordersProjection)
	require.Equal(t, 201, status, "%s", b)

	emit := func(id, typ, subject, data string) uint64 {
		t.Helper()
		status, b := call(t, "POST", srv.URL+"/v1/events", "application/cloudevents+json",
			fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/shop","type":%q,"subject":%q,"data":%s}`, id, typ, subject, data))
		require.Equal(t, 200, status, "%s", b)
		var res struct {
			Position uint64 `json:"position"`
		}
		require.NoError(t, json.Unmarshal(b, &res))
		return res.Position
	}
	placed := emit("1", "order.placed", "o-1", `{"total": 1250}`)
	emit("2", "order.item_added", "o-1", `{}`)
	last := emit("3", "order.item_added", "o-1", `{}`)
	emit("4", "order.placed", "o-2", `{"total": 10}`)
	shipped := emit("5", "order.shipped", "o-2", `{}`)

	// Read your writes.
	status, b = call(t, "GET", fmt.Sprintf("%s/v1/projections/orders/documents/o-1?min_position=%d", srv.URL, last), "", "")
	require.Equal(t, 200, status, "%s", b)
	var doc struct {
		Key      string          `json:"key"`
		State    json.RawMessage `json:"state"`
		Position uint64          `json:"position"`
		Updates  int             `json:"updates"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.JSONEq(t, `{"status": "placed", "total": 1250, "items": 2}`, string(doc.State))
	require.Equal(t, last, doc.Position)
	require.Equal(t, 3, doc.Updates)

	// Time travel, by position.
	status, b = call(t, "GET", fmt.Sprintf("%s/v1/projections/orders/documents/o-1?at=%d", srv.URL, placed), "", "")
	require.Equal(t, 200, status, "%s", b)
	require.NoError(t, json.Unmarshal(b, &doc))
	require.JSONEq(t, `{"status": "placed", "total": 1250, "items": 0}`, string(doc.State))

	// An indexed filter.
	status, b = call(t, "POST", fmt.Sprintf("%s/v1/projections/orders/query?min_position=%d", srv.URL, shipped), "application/json",
		`{"filter": "doc.status == \"shipped\"", "order_by": "-total", "limit": 10}`)
	require.Equal(t, 200, status, "%s", b)
	var page struct {
		Documents []struct {
			Key string `json:"key"`
		} `json:"documents"`
	}
	require.NoError(t, json.Unmarshal(b, &page))
	require.Len(t, page.Documents, 1)
	require.Equal(t, "o-2", page.Documents[0].Key)

	// A bad filter and a bad at are the client's errors.
	status, _ = call(t, "POST", srv.URL+"/v1/projections/orders/query", "application/json", `{"filter": "doc.status =="}`)
	require.Equal(t, 400, status)
	status, _ = call(t, "GET", srv.URL+"/v1/projections/orders/documents/o-1?at=yesterday", "", "")
	require.Equal(t, 400, status)
	status, _ = call(t, "GET", srv.URL+"/v1/projections/orders/documents/nope", "", "")
	require.Equal(t, 404, status)

	// A rebuild switches to a new generation and answers the same.
	status, b = call(t, "POST", srv.URL+"/v1/projections/orders/rebuild", "", "")
	require.Equal(t, 202, status, "%s", b)
	require.Eventually(t, func() bool {
		_, b := call(t, "GET", srv.URL+"/v1/projections/orders", "", "")
		var st struct {
			State      string `json:"state"`
			Generation int    `json:"generation"`
		}
		return json.Unmarshal(b, &st) == nil && st.Generation == 2 && st.State == "running"
	}, 20*time.Second, 20*time.Millisecond)
	status, b = call(t, "GET", srv.URL+"/v1/projections/orders/documents/o-1", "", "")
	require.Equal(t, 200, status, "%s", b)
	require.NoError(t, json.Unmarshal(b, &doc))
	require.JSONEq(t, `{"status": "placed", "total": 1250, "items": 2}`, string(doc.State))

	var list struct {
		Projections []struct {
			Name string `json:"name"`
		} `json:"projections"`
	}
	_, b = call(t, "GET", srv.URL+"/v1/projections", "", "")
	require.NoError(t, json.Unmarshal(b, &list))
	require.Len(t, list.Projections, 1)
}

func TestProjectionFailsVisiblyAndResumes(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	status, b := call(t, "PUT", srv.URL+"/v1/projections/totals", "application/yaml", `
name: totals
key: event.subject
initial: '{"sum": 0}'
on:
  add: 'state.with({"sum": state.sum + event.data.n})'
`)
	require.Equal(t, 201, status, "%s", b)
	post := func(id, data string) uint64 {
		status, b := call(t, "POST", srv.URL+"/v1/events", "application/cloudevents+json",
			fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/t","type":"add","subject":"a","data":%s}`, id, data))
		require.Equal(t, 200, status, "%s", b)
		var res struct {
			Position uint64 `json:"position"`
		}
		require.NoError(t, json.Unmarshal(b, &res))
		return res.Position
	}
	post("1", `{"n": 1}`)
	bad := post("2", `{"n": "two"}`) // int + string: a reducer error
	after := post("3", `{"n": 3}`)

	// min_position past the poisoned event: 503 with the position reached.
	status, b = call(t, "GET", fmt.Sprintf("%s/v1/projections/totals/documents/a?min_position=%d", srv.URL, after), "", "")
	require.Equal(t, 503, status, "%s", b)
	var st struct {
		State string `json:"state"`
		Error *struct {
			Position uint64 `json:"position"`
		} `json:"error"`
	}
	_, b = call(t, "GET", srv.URL+"/v1/projections/totals", "", "")
	require.NoError(t, json.Unmarshal(b, &st))
	require.Equal(t, "failed", st.State, "%s", b)
	require.Equal(t, bad, st.Error.Position)

	status, _ = call(t, "POST", srv.URL+"/v1/projections/totals/resume", "application/json", fmt.Sprintf(`{"skip_position": %d}`, bad+1))
	require.Equal(t, 409, status, "only the failed event may be skipped")
	status, b = call(t, "POST", srv.URL+"/v1/projections/totals/resume", "application/json", fmt.Sprintf(`{"skip_position": %d}`, bad))
	require.Equal(t, 200, status, "%s", b)
	status, b = call(t, "GET", fmt.Sprintf("%s/v1/projections/totals/documents/a?min_position=%d", srv.URL, after), "", "")
	require.Equal(t, 200, status, "%s", b)
	require.Contains(t, string(b), `"sum":4`)
}

func TestProjectionNameFromTheURLAndPositions(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	status, b := call(t, "PUT", srv.URL+"/v1/projections/nameless", "application/yaml", "key: event.subject\non:\n  x: 'state'\n")
	require.Equal(t, 201, status, "%s", b)
	status, b = call(t, "GET", srv.URL+"/v1/projections/nameless", "", "")
	require.Equal(t, 200, status, "%s", b)
	// A bad reducer in a file sent to /v1/apply is placed on its line.
	req, _ := http.NewRequest("POST", srv.URL+"/v1/apply", strings.NewReader("kind: projection\nname: p\nkey: event.subject\non:\n  x: 'state.with('\n"))
	req.Header.Set("Ensue-Filename", "p.yaml")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, 422, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), `"line":5`)
}
