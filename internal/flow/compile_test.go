package flow

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustInput(t testing.TB, js string) *Input {
	t.Helper()
	in, err := NewInput([]byte(js))
	require.NoError(t, err)
	return in
}

func compileSrc(t *testing.T, src string) (*Compiled, error) {
	t.Helper()
	f, err := ParseFlow("f.yaml", []byte(src))
	require.NoError(t, err)
	return Compile(f)
}

func TestCELErrorPositions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		src  string
		want []problemAt
	}{
		{"undeclared in plain when", `name: a
on:
  type: a
  when: evnt.data.total > 1000
steps: [{id: s, emit: {type: b}}]
`, []problemAt{{4, 9, "on.when", "undeclared reference to 'evnt'"}}},
		{"syntax in quoted body", `name: a
on: {type: a}
steps:
  - id: s
    http:
      url: http://x
      body: '{"a": event.subject +}'
`, []problemAt{{7, 35, "steps[0].http.body", "Syntax error"}}},
		{"when not bool", `name: a
on: {type: a, when: "event.type + 'x'"}
steps: [{id: s, emit: {type: b}}]
`, []problemAt{{2, 21, "on.when", "must produce a condition (bool), but produces string"}}},
		{"subject not string", `name: a
on: {type: a}
steps: [{id: s, emit: {type: b, subject: "1 + 2"}}]
`, []problemAt{{3, 42, "steps[0].emit.subject", "must produce a string, but produces int"}}},
		{"later and unknown steps", `name: a
on: {type: a}
steps:
  - id: first
    emit:
      type: b
      data: '{"x": steps.second.output, "y": steps.nope.output}'
  - id: second
    emit:
      type: c
      data: '{"x": steps.first.output, "y": steps["first"].result}'
`, []problemAt{
			{7, 20, "steps[0].emit.data", "steps.second has not run yet at this step"},
			{7, 46, "steps[0].emit.data", `no step "nope" before this one`},
			{11, 45, "steps[1].emit.data", `"result" is not a field of it`},
		}},
		{"steps in when", `name: a
on: {type: a, when: steps.x.output == 1}
steps: [{id: s, emit: {type: b}}]
`, []problemAt{{2, 21, "on.when", "can use event, not steps"}}},
		{"block scalar", `name: a
on: {type: a}
steps:
  - id: s
    emit:
      type: b
      data: |
        {
          "a": event.subject,
          "b": undefined_thing
        }
`, []problemAt{{10, 16, "steps[0].emit.data", "undeclared reference to 'undefined_thing'"}}},
		{"suggests an earlier step", `name: a
on: {type: a}
steps:
  - id: notify
    emit: {type: b}
  - id: flag
    emit: {type: c, data: steps.notfy.output}
`, []problemAt{{7, 27, "steps[1].emit.data", `did you mean "notify"?`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := compileSrc(t, tc.src)
			requireProblems(t, err, tc.want...)
		})
	}
}

// A Flow built in Go has no positions: problems still name the path and
// the place inside the expression.
func TestCompileGoFlowErrors(t *testing.T) {
	t.Parallel()
	_, err := Compile(&Flow{Name: "x", On: Trigger{Type: "a", When: "event.x >"}, Steps: []Step{{ID: "s", Emit: &EmitStep{Type: "b"}}}})
	requireProblems(t, err, problemAt{0, 0, "on.when", "(expression line 1, column 10)"})
}

func TestMatchesBriefExample(t *testing.T) {
	t.Parallel()
	f, err := ParseFlow("f.yaml", briefFlow(t))
	require.NoError(t, err)
	c, err := Compile(f)
	require.NoError(t, err)

	ev := func(total string) *Input {
		return mustInput(t, `{"specversion":"1.0","id":"e1","source":"/shop/eu","type":"order.placed","subject":"order-1","data":{"total":`+total+`}}`)
	}
	for total, want := range map[string]bool{"1200": true, "900": false, "1000": false, "1000.5": true, "1001": true, "999.5": false} {
		ok, err := c.Matches(ev(total))
		require.NoError(t, err)
		require.Equal(t, want, ok, "total %s", total)
	}

	x := c.Explain(ev("900"))
	require.False(t, x.Triggered)
	require.Len(t, x.Checks, 3)
	last := x.Checks[2]
	require.Equal(t, "when", last.Condition)
	require.Equal(t, "event.data.total > 1000", last.Expected)
	require.False(t, last.Passed)
	require.Equal(t, false, last.Actual)
	require.Equal(t, map[string]any{"event.data.total": int64(900)}, last.Values)

	x = c.Explain(mustInput(t, `{"id":"e1","source":"/other","type":"order.placed","data":{"total":5000}}`))
	require.False(t, x.Triggered)
	require.Equal(t, []Check{
		{Condition: "type", Expected: "order.placed", Actual: "order.placed", Passed: true},
		{Condition: "source", Expected: "/shop/*", Actual: "/other", Passed: false},
	}, x.Checks)

	x = c.Explain(ev("1200"))
	require.True(t, x.Triggered)

	// An evaluation error is no match, and Explain says why.
	noTotal := mustInput(t, `{"id":"e1","source":"/shop/eu","type":"order.placed","data":{}}`)
	ok, err := c.Matches(noTotal)
	require.Error(t, err)
	require.False(t, ok)
	x = c.Explain(noTotal)
	require.False(t, x.Triggered)
	require.Contains(t, x.Checks[2].Error, "no such key")
}

func TestStepEvaluation(t *testing.T) {
	t.Parallel()
	f, err := ParseFlow("f.yaml", briefFlow(t))
	require.NoError(t, err)
	c, err := Compile(f)
	require.NoError(t, err)
	in := mustInput(t, `{"id":"e1","source":"/shop/eu","type":"order.placed","subject":"order-1","data":{"total":1200}}`)

	body, err := c.HTTPBody(0, in, nil)
	require.NoError(t, err)
	require.JSONEq(t, `{"order":"order-1","total":1200}`, string(body))

	steps := map[string]any{"notify": map[string]any{"output": map[string]any{"status": int64(202)}}}
	data, err := c.EmitData(1, in, steps)
	require.NoError(t, err)
	require.JSONEq(t, `{"total":1200,"status":202}`, string(data))

	subj, err := c.EmitSubject(1, in, steps)
	require.NoError(t, err)
	require.Equal(t, "order-1", subj)

	_, err = c.EmitData(0, in, nil)
	require.ErrorIs(t, err, ErrNotThisAction)
	_, err = c.HTTPBody(5, in, nil)
	require.Error(t, err)
}

func TestJSONConversion(t *testing.T) {
	t.Parallel()
	in := mustInput(t, `{"id":"e1","source":"s","type":"t","data":{"big":9007199254740993,"u":18446744073709551615,"f":0.5,"list":[1,"a",null,true]}}`)
	for _, tc := range []struct{ expr, want, err string }{
		{`event.data.big`, `9007199254740993`, ""},
		{`event.data.u`, `18446744073709551615`, ""},
		{`event.data`, `{"big":9007199254740993,"f":0.5,"list":[1,"a",null,true],"u":18446744073709551615}`, ""},
		{`{"a": [1u, 2.5, b"hi", null, duration("1m"), timestamp("2024-01-02T03:04:05Z")]}`, `{"a":[1,2.5,"aGk=",null,"1m0s","2024-01-02T03:04:05Z"]}`, ""},
		{`event.?data.missing`, `null`, ""},
		{`"<&>"`, `"<&>"`, ""},
		{`{1: 2}`, ``, "string keys"},
		{`1.0 / 0.0`, ``, "cannot be represented"},
		{`base64.encode(b"x") + "x".upperAscii()`, `"eA==X"`, ""},
	} {
		c, err := Compile(&Flow{Name: "j", On: Trigger{Type: "t"}, Steps: []Step{{ID: "s", Emit: &EmitStep{Type: "x", Data: tc.expr}}}})
		require.NoError(t, err, tc.expr)
		got, err := c.EmitData(0, in, nil)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.expr)
			continue
		}
		require.NoError(t, err, tc.expr)
		require.Equal(t, tc.want, string(got), tc.expr)
	}
}

func TestNumericComparisons(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		when string
		data string
		want bool
	}{
		{"event.data.total > 1000", `1000.5`, true},
		{"event.data.total > 1000", `1001`, true},
		{"event.data.total > 1000", `1000`, false},
		{"event.data.total > 1000.5", `1001`, true},
		{"event.data.total == 1000", `1000.0`, true},
		{"event.data.total < 1", `18446744073709551615`, false},
		{"event.data.total >= 0u", `3`, true},
	} {
		c, err := Compile(&Flow{Name: "n", On: Trigger{Type: "t", When: tc.when}, Steps: []Step{{ID: "s", Emit: &EmitStep{Type: "x"}}}})
		require.NoError(t, err)
		ok, err := c.Matches(mustInput(t, `{"type":"t","data":{"total":`+tc.data+`}}`))
		require.NoError(t, err, "%s with %s", tc.when, tc.data)
		require.Equal(t, tc.want, ok, "%s with %s", tc.when, tc.data)
	}
}

func TestWhenNotBoolAtRunTime(t *testing.T) {
	t.Parallel()
	c, err := Compile(&Flow{Name: "n", On: Trigger{Type: "t", When: "event.data.flag"}, Steps: []Step{{ID: "s", Emit: &EmitStep{Type: "x"}}}})
	require.NoError(t, err)
	ok, err := c.Matches(mustInput(t, `{"type":"t","data":{"flag":"yes"}}`))
	require.ErrorContains(t, err, "not a bool")
	require.False(t, ok)
	ok, err = c.Matches(mustInput(t, `{"type":"t","data":{"flag":true}}`))
	require.NoError(t, err)
	require.True(t, ok)
}

func TestNewInput(t *testing.T) {
	t.Parallel()
	in := mustInput(t, `{"specversion":"1.0","id":"i","source":"s","type":"t","sequence":7,"flag":true,"datacontenttype":"application/json","data_base64":"eyJhIjogMX0="}`)
	require.Equal(t, "t", in.Type())
	require.Equal(t, "s", in.Source())
	require.Equal(t, "", in.Subject())
	require.Equal(t, "i", in.ID())
	ev := in.Event()
	require.Equal(t, "7", ev["sequence"])
	require.Equal(t, "true", ev["flag"])
	require.Equal(t, map[string]any{"a": int64(1)}, ev["data"])

	bin := mustInput(t, `{"type":"t","datacontenttype":"application/octet-stream","data_base64":"AAE="}`)
	require.Equal(t, []byte{0, 1}, bin.Event()["data"])

	for _, bad := range []string{``, `null`, `[]`, `{}`, `{"type":""}`, `{"type":"t","x":{}}`, `{"type":"t","data":1,"data_base64":"AA=="}`, `{"type":"t","data_base64":"!"}`, `{"type":"t"} {}`, `{"type":"t","data_base64":"AA=="}`} {
		_, err := NewInput([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestBytesMapKeysAreAProblemNotAPanic(t *testing.T) {
	f, err := ParseFlow("f.yaml", []byte("name: x\non:\n  type: t\n  when: '{b\"a\": 1}[b\"a\"] == 1'\nsteps:\n  - id: a\n    emit: {type: y, data: '{}'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(f); err == nil || !strings.Contains(err.Error(), "cannot plan") {
		t.Fatalf("Compile: %v", err)
	}
}
