package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
)

// call sends a request and returns status, content type and body.
func call(t *testing.T, method, url, ctype, body string, hdr ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m), s)
	return m
}

func TestSmoke(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	u := srv.URL + "/v1/events"
	st, ct, body := call(t, "POST", u, "application/cloudevents+json", `{"specversion":"1.0","id":"1","source":"/s","type":"order.placed","subject":"order-1","data":{"total":5}}`)
	require.Equal(t, 200, st, body)
	require.Equal(t, "application/json", ct)
	m := decode(t, body)
	require.Equal(t, "order-1", m["stream"])
	require.EqualValues(t, 1, m["version"])
	require.Equal(t, false, m["duplicate"])
	pos := m["position"]

	st, _, body = call(t, "POST", u, "application/cloudevents+json", `{"specversion":"1.0","id":"1","source":"/s","type":"order.placed","subject":"order-1","expectedversion":7}`)
	require.Equal(t, 200, st, body)
	m = decode(t, body)
	require.Equal(t, true, m["duplicate"])
	require.Equal(t, pos, m["position"])

	st, _, body = call(t, "POST", u, "application/cloudevents-batch+json", `[{"specversion":"1.0","id":"2","source":"/s","type":"order.placed","subject":"order-1"},{"id":"x"},{"specversion":"1.0","id":"3","source":"/s","type":"t","subject":"order-1","expectedversion":1}]`)
	require.Equal(t, 200, st, body)
	res := decode(t, body)["results"].([]any)
	require.Len(t, res, 3)
	require.EqualValues(t, 2, res[0].(map[string]any)["version"])
	require.EqualValues(t, 400, res[1].(map[string]any)["status"])
	require.EqualValues(t, 1, res[1].(map[string]any)["index"])
	require.EqualValues(t, 409, res[2].(map[string]any)["status"])
	require.EqualValues(t, 2, res[2].(map[string]any)["currentVersion"])

	st, _, body = call(t, "GET", srv.URL+"/v1/streams/order-1", "", "")
	require.Equal(t, 200, st, body)
	m = decode(t, body)
	require.EqualValues(t, 2, m["version"])
	require.Len(t, m["records"], 2)

	st, _, body = call(t, "GET", srv.URL+"/v1/events/lookup?source=/s&id=2", "", "")
	require.Equal(t, 200, st, body)

	st, _, body = call(t, "GET", srv.URL+"/v1/events?limit=10", "", "")
	require.Equal(t, 200, st, body)
	require.Len(t, decode(t, body)["records"], 2)

	st, ct, body = call(t, "POST", u, "text/plain", `hi`)
	require.Equal(t, 415, st, body)
	require.Equal(t, "application/problem+json", ct)
}
