package flow

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// briefFlow is the example of the issue that introduced this package.
func briefFlow(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/notify-big-orders.yaml")
	require.NoError(t, err)
	return b
}

func TestParseBriefExample(t *testing.T) {
	t.Parallel()
	f, err := ParseFlow("notify.yaml", briefFlow(t))
	require.NoError(t, err)
	require.Equal(t, "notify-big-orders", f.Name)
	require.Equal(t, Trigger{Type: "order.placed", Source: "/shop/*", When: "event.data.total > 1000"}, f.On)
	require.Equal(t, 100, f.Concurrency)
	require.Len(t, f.Steps, 2)
	require.Equal(t, &HTTPStep{
		Method:  "POST",
		URL:     "https://hooks.example.com/orders",
		Headers: map[string]string{"X-Team": "sales"},
		Body:    `{"order": event.subject, "total": event.data.total}`,
		Secret:  "env:ORDERS_HOOK_SECRET",
		Timeout: 10 * time.Second,
	}, f.Steps[0].HTTP)
	require.Equal(t, Retry{Attempts: 8, Backoff: "exponential", Initial: time.Second, Max: 5 * time.Minute}, f.Steps[0].Retry)
	require.Equal(t, &EmitStep{
		Type:    "order.flagged",
		Data:    `{"total": event.data.total, "status": steps.notify.output.status}`,
		Subject: "event.subject",
	}, f.Steps[1].Emit)
	require.Equal(t, Retry{Attempts: 5, Backoff: "exponential", Initial: time.Second, Max: 5 * time.Minute}, f.Steps[1].Retry, "defaults")

	c, err := Compile(f)
	require.NoError(t, err)
	require.Len(t, c.Hash(), 64)
}

// The same flow as JSON (what the HTTP API receives), with defaults left out
// and keys in another order, has the same canonical form and hash.
func TestJSONAndYAMLSameHash(t *testing.T) {
	t.Parallel()
	js := `{
  "steps": [
    {"id": "notify", "retry": {"attempts": 8},
     "http": {"url": "https://hooks.example.com/orders", "headers": {"X-Team": "sales"},
              "body": "{\"order\": event.subject, \"total\": event.data.total}",
              "secret": "env:ORDERS_HOOK_SECRET"}},
    {"id": "flag", "emit": {"type": "order.flagged", "subject": "event.subject",
      "data": "{\"total\": event.data.total, \"status\": steps.notify.output.status}"}}
  ],
  "on": {"type": "order.placed", "source": "/shop/*", "when": "event.data.total > 1000"},
  "name": "notify-big-orders"
}`
	fy, err := ParseFlow("a.yaml", briefFlow(t))
	require.NoError(t, err)
	fj, err := ParseFlow("a.json", []byte(js))
	require.NoError(t, err)
	require.JSONEq(t, string(fy.Canonical()), string(fj.Canonical()))
	cy, err := Compile(fy)
	require.NoError(t, err)
	cj, err := Compile(fj)
	require.NoError(t, err)
	require.Equal(t, cy.Hash(), cj.Hash())

	// A Flow built in Go with zero defaults hashes the same too.
	g := &Flow{Name: fy.Name, On: fy.On, Steps: []Step{
		{ID: "notify", HTTP: &HTTPStep{URL: fy.Steps[0].HTTP.URL, Headers: map[string]string{"X-Team": "sales"}, Body: fy.Steps[0].HTTP.Body, Secret: fy.Steps[0].HTTP.Secret}, Retry: Retry{Attempts: 8}},
		{ID: "flag", Emit: fy.Steps[1].Emit},
	}}
	cg, err := Compile(g)
	require.NoError(t, err)
	require.Equal(t, cy.Hash(), cg.Hash())
	require.Equal(t, 100, cg.Flow.Concurrency, "Compiled.Flow has defaults")
	require.Zero(t, g.Concurrency, "Compile does not modify its argument")
}

func TestCanonicalRoundTrip(t *testing.T) {
	t.Parallel()
	f, err := ParseFlow("a.yaml", briefFlow(t))
	require.NoError(t, err)
	canon := f.Canonical()
	require.Contains(t, string(canon), `"timeout":"10s"`)
	require.Contains(t, string(canon), `"max":"5m0s"`)
	g, err := ParseCanonical(canon)
	require.NoError(t, err)
	require.Equal(t, string(canon), string(g.Canonical()))
	c1, err := Compile(f)
	require.NoError(t, err)
	c2, err := Compile(g)
	require.NoError(t, err)
	require.Equal(t, c1.Hash(), c2.Hash())

	_, err = ParseCanonical([]byte(`{"name": "x", "stpes": []}`))
	require.Error(t, err)
}

func TestParseFileDocuments(t *testing.T) {
	t.Parallel()
	src := `name: first
on: {type: a.b}
steps:
  - id: one
    emit: {type: c.d}
---
kind: projection
name: orders-by-customer
key: event.data.customer
reduce: state + 1
---
key: event.subject
name: implicit-projection
---
kind: flow
name: second
on: {type: "x.*"}
steps: [{id: s, http: {url: "http://localhost:8080/hook"}}]
`
	docs, err := ParseFile("many.yaml", []byte(src))
	require.NoError(t, err)
	require.Len(t, docs, 4)
	require.Equal(t, []string{"flow", "projection", "projection", "flow"}, []string{docs[0].Kind, docs[1].Kind, docs[2].Kind, docs[3].Kind})
	require.Equal(t, []string{"first", "orders-by-customer", "implicit-projection", "second"}, []string{docs[0].Name, docs[1].Name, docs[2].Name, docs[3].Name})
	require.Equal(t, []int{1, 7, 12, 15}, []int{docs[0].Line, docs[1].Line, docs[2].Line, docs[3].Line})
	require.Nil(t, docs[1].Flow)
	require.JSONEq(t, `{"kind":"projection","name":"orders-by-customer","key":"event.data.customer","reduce":"state + 1"}`, string(docs[1].Raw))
	require.Equal(t, "many.yaml", docs[3].File)
	require.NotNil(t, docs[3].Flow)

	_, err = ParseFlow("many.yaml", []byte(src))
	requireProblems(t, err, problemAt{line: 7, col: 1, msg: "expected exactly one flow, found 4"})
}

type problemAt struct {
	line, col int
	path      string
	msg       string // substring of the message
}

func requireProblems(t *testing.T, err error, want ...problemAt) {
	t.Helper()
	var fe *Error
	require.True(t, errors.As(err, &fe), "want *Error, got %v", err)
	got := make([]string, len(fe.Problems))
	for i, p := range fe.Problems {
		got[i] = p.String()
	}
	require.Len(t, fe.Problems, len(want), "problems:\n%s", strings.Join(got, "\n"))
	for i, w := range want {
		p := fe.Problems[i]
		require.Equal(t, w.line, p.Line, "line of %s", p)
		require.Equal(t, w.col, p.Column, "column of %s", p)
		if w.path != "" {
			require.Equal(t, w.path, p.Path, "path of %s", p)
		}
		require.Contains(t, p.Message, w.msg, "message of %s", p)
	}
}

// A valid base on which each validation case changes one thing.
const validBase = `name: ok
on:
  type: order.placed
steps:
  - id: notify
    http:
      url: https://example.com/hook
`

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		src  string
		want []problemAt
	}{
		{"bad name", "name: Bad_Name\non: {type: a}\nsteps: [{id: s, emit: {type: b}}]\n",
			[]problemAt{{1, 7, "name", `name "Bad_Name" is not valid`}}},
		{"missing name and type", "on: {source: x}\nsteps: [{id: s, emit: {type: b}}]\n",
			[]problemAt{{1, 1, "name", "name is required"}, {1, 5, "on.type", "on.type is required"}}},
		{"typo with suggestion", "name: a\non: {type: a}\nstpes: [{id: s, emit: {type: b}}]\n",
			[]problemAt{{1, 1, "steps", "at least one step"}, {3, 1, "stpes", "unknown field `stpes`; did you mean `steps`?"}}},
		{"unknown field without suggestion", validBase + "    colour: red\n",
			[]problemAt{{8, 5, "steps[0].colour", "unknown field `colour`; expected one of id, http, emit, retry"}}},
		{"duplicate and invalid step ids", `name: a
on: {type: a}
steps:
  - id: one
    emit: {type: b}
  - id: one
    emit: {type: b}
  - id: Two
    emit: {type: b}
`, []problemAt{{6, 9, "steps[1].id", `already used by steps[0]`}, {8, 9, "steps[2].id", `step id "Two" is not valid`}}},
		{"no action and two actions", `name: a
on: {type: a}
steps:
  - id: one
  - id: two
    emit: {type: b}
    http: {url: "http://x"}
`, []problemAt{{4, 5, "steps[0]", "needs one action"}, {5, 5, "steps[1]", "exactly one action"}}},
		{"http problems", `name: a
on: {type: a}
steps:
  - id: one
    http:
      method: TRACE
      url: ftp://example.com/x
      headers: {"Bad Header": x}
      secret: whsec_c2hvcnQ=
      timeout: 10m
`, []problemAt{
			{6, 15, "steps[0].http.method", `method "TRACE" is not supported`},
			{7, 12, "steps[0].http.url", "must be an absolute http:// or https:// URL"},
			{8, 31, "steps[0].http.headers.Bad Header", "header name"},
			{9, 15, "steps[0].http.secret", "24 to 64 bytes"},
			{10, 16, "steps[0].http.timeout", "timeout must be between 1ms and 5m0s"},
		}},
		{"missing url and bad env secret", `name: a
on: {type: a}
steps:
  - id: one
    http: {secret: "env:1X"}
`, []problemAt{{5, 11, "steps[0].http.url", "url is required"}, {5, 20, "steps[0].http.secret", "names no valid environment variable"}}},
		{"emit problems", `name: a
on: {type: a}
steps:
  - id: one
    emit: {type: ensue.run.started}
  - id: two
    emit: {data: "1"}
`, []problemAt{{5, 18, "steps[0].emit.type", "reserved"}, {7, 11, "steps[1].emit.type", "type is required"}}},
		{"retry problems", validBase + "    retry: {attempts: 0, backoff: linear, initial: 10m, max: 1m}\n",
			[]problemAt{
				{8, 23, "steps[0].retry.attempts", "attempts must be between 1 and 100"},
				{8, 35, "steps[0].retry.backoff", `backoff "linear" is not supported`},
				{8, 52, "steps[0].retry.initial", "initial (10m0s) is longer than max (1m0s)"},
				{8, 61, "steps[0].retry.max", ""},
			}[:3]},
		{"wrong types", `name: a
on: {type: a}
concurrency: lots
steps:
  - id: one
    emit: {type: b}
    retry: {attempts: 2.5, initial: 5}
`, []problemAt{
			{3, 14, "concurrency", "must be an integer, not the string \"lots\""},
			{7, 23, "steps[0].retry.attempts", "must be an integer, not the number 2.5"},
			{7, 37, "steps[0].retry.initial", "must be a duration with a unit"},
		}},
		{"bad duration and concurrency range", validBase[:len("name: ok\n")] + "concurrency: 0\n" + validBase[len("name: ok\n"):] + "      timeout: soon\n",
			[]problemAt{{2, 14, "concurrency", "concurrency must be between 1 and 10000"}, {9, 16, "steps[0].http.timeout", `"soon" is not a duration`}}},
		{"unknown kind", "kind: flw\nname: a\n", []problemAt{{1, 7, "kind", `did you mean "flow"?`}}},
		{"unknown shape", "name: a\n", []problemAt{{1, 1, "", "cannot tell what this document is"}}},
		{"not a mapping", "- a\n- b\n", []problemAt{{1, 1, "", "must be a mapping"}}},
		{"alias refused", "name: &n a\non: {type: a}\nsteps: [{id: *n, emit: {type: b}}]\n", []problemAt{{3, 9, "steps[0].id", "id is required"}, {3, 14, "", "aliases"}}},
		{"duplicate key", "name: a\nname: b\non: {type: a}\nsteps: [{id: s, emit: {type: b}}]\n", []problemAt{{2, 1, "", `mapping key "name" already defined at [1:1]`}}},
		{"yaml syntax", "name: a\non: {type: a\nsteps: []\n", []problemAt{{3, 1, "", "syntax: ',' or '}' must be specified"}}},
		{"json syntax", "{\n  \"name\": \"a\",\n  \"on\": {\"type\": \"a\"},,\n}\n", []problemAt{{3, 23, "", "syntax"}}},
		{"empty file", "# nothing\n", []problemAt{{1, 1, "", "no document"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseFile("f.yaml", []byte(tc.src))
			requireProblems(t, err, tc.want...)
			require.True(t, strings.HasPrefix(err.Error(), "f.yaml:"), err.Error())
		})
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	e := &Error{Problems: []Problem{
		{File: "f.yaml", Line: 3, Column: 5, Path: "on.type", Message: "on.type is required"},
		{Path: "name", Message: "name is required"},
	}}
	require.Equal(t, "f.yaml:3:5: on.type: on.type is required\nname: name is required", e.Error())
}
