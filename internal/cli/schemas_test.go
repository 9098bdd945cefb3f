package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/sdk"
)

const paymentSchema = `{
  "type": "object",
  "properties": {
    "amount": {"type": "integer", "minimum": 0},
    "currency": {"type": "string"}
  },
  "required": ["amount"]
}`

// paymentBreaking requires a field the first version did not.
const paymentBreaking = `{
  "type": "object",
  "properties": {
    "amount": {"type": "integer", "minimum": 0},
    "currency": {"type": "string"},
    "method": {"type": "string"}
  },
  "required": ["amount", "method"]
}`

// paymentRelaxed accepts any amount: backward compatible.
const paymentRelaxed = `{
  "type": "object",
  "properties": {
    "amount": {"type": "integer"},
    "currency": {"type": "string"}
  },
  "required": ["amount"]
}`

func TestSchemasPushShowAndVersions(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	dir := t.TempDir()
	v1, breaking, relaxed := filepath.Join(dir, "v1.json"), filepath.Join(dir, "breaking.json"), filepath.Join(dir, "relaxed.json")
	writeFile(t, v1, paymentSchema)
	writeFile(t, breaking, paymentBreaking)
	writeFile(t, relaxed, paymentRelaxed)

	r := tb.run(t, "schemas", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "No schemas.")

	r = tb.run(t, "schemas", "push", v1, "--type", "payment.captured")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "payment.captured version 1 registered\n", r.stdout)
	r = tb.run(t, "schemas", "push", v1, "--type", "payment.captured")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "payment.captured unchanged (version 1)\n", r.stdout)

	// A breaking version is refused, each change listed, with what to do.
	r = tb.run(t, "schemas", "push", breaking, "--type", "payment.captured")
	require.Equal(t, exitInput, r.code)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, breaking+": /properties/method: property `method` became required")
	require.Contains(t, r.stderr, "error: "+breaking+" breaks the backward compatibility of payment.captured in 2 place(s)")
	require.Contains(t, r.stderr, "Keep what version 1 allows, choose another mode with 'ensue schemas compatibility payment.captured MODE', or register anyway with --force")

	r = tb.run(t, "schemas", "check", breaking, "--type", "payment.captured")
	require.Equal(t, exitInput, r.code)
	require.Len(t, lines(r.stdout), 2)
	require.True(t, strings.HasPrefix(r.stdout, breaking+": /properties/method: "), r.stdout)
	require.Equal(t, "error: "+breaking+" breaks the backward compatibility of payment.captured in 2 place(s) (listed above)\n", r.stderr)
	r = tb.run(t, "schemas", "check", relaxed, "--type", "payment.captured")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "compatible (backward): "+relaxed+" would be version 2 of payment.captured\n", r.stdout)
	r = tb.run(t, "schemas", "check", breaking, "--type", "payment.captured", "-o", "json")
	require.Equal(t, exitInput, r.code)
	var check sdk.SchemaCheck
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &check))
	require.False(t, check.Compatible)
	require.Len(t, check.Changes, 2)

	r = tb.run(t, "schemas", "push", breaking, "--type", "payment.captured", "--force", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var reg sdk.SchemaRegistration
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &reg))
	require.Equal(t, sdk.SchemaRegistration{Type: "payment.captured", Version: 2, Created: true}, reg)
	r = runCLI(t, paymentRelaxed, "--server", tb.url, "schemas", "push", "-", "--type", "billing/refund issued")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "billing/refund issued version 1 registered\n", r.stdout)

	r = tb.run(t, "schemas", "list")
	require.Equal(t, 0, r.code, r.stderr)
	out := lines(r.stdout)
	require.Equal(t, []string{"TYPE", "LATEST", "VERSIONS", "COMPATIBILITY"}, strings.Fields(out[0]))
	require.Equal(t, []string{"billing/refund", "issued", "1", "1", "backward"}, strings.Fields(out[1]))
	require.Equal(t, []string{"payment.captured", "2", "2", "backward"}, strings.Fields(out[2]))

	r = tb.run(t, "schemas", "show", "payment.captured")
	require.Equal(t, 0, r.code, r.stderr)
	out = lines(r.stdout)
	require.Regexp(t, `^payment\.captured version 2, compatibility backward, registered \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, out[0])
	require.JSONEq(t, paymentBreaking, strings.Join(out[1:], "\n"))
	require.Contains(t, r.stdout, "\n  \"properties\": {\n", "the schema is indented")
	r = tb.run(t, "schemas", "show", "payment.captured", "--version", "1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var s sdk.Schema
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s))
	require.Equal(t, 1, s.Version)
	require.JSONEq(t, paymentSchema, string(s.Document))
	r = tb.run(t, "schemas", "show", "payment.captured", "--version", "7")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "(404)")

	r = tb.run(t, "schemas", "versions", "payment.captured")
	require.Equal(t, 0, r.code, r.stderr)
	out = lines(r.stdout)
	require.Len(t, out, 3)
	require.Equal(t, []string{"VERSION", "REGISTERED"}, strings.Fields(out[0]))
	require.Equal(t, "1", strings.Fields(out[1])[0])
	require.Equal(t, "2", strings.Fields(out[2])[0])

	r = tb.run(t, "schemas", "compatibility", "payment.captured")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "payment.captured: compatibility backward\n", r.stdout)
	r = tb.run(t, "schemas", "compatibility", "payment.captured", "none")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "payment.captured: compatibility none\n", r.stdout)
	r = tb.run(t, "schemas", "push", v1, "--type", "payment.captured")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "payment.captured unchanged (version 1)\n", r.stdout, "an equal version is found, whatever the mode")
	r = tb.run(t, "schemas", "compatibility", "payment.captured", "sideways")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, `compatibility "sideways": use backward, forward, full or none`)

	// The latest version goes only in mode off; older ones any time.
	r = tb.run(t, "schemas", "delete", "payment.captured", "--version", "2")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "(409)")
	r = tb.run(t, "schemas", "delete", "payment.captured", "--version", "1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "payment.captured version 1 deleted\n", r.stdout)
	r = tb.run(t, "schemas", "delete", "payment.captured")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "missing --version N")
	r = tb.run(t, "schemas", "versions", "payment.captured", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Len(t, lines(r.stdout), 1)

	r = tb.run(t, "schemas", "push", v1)
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "missing --type TYPE")
	r = tb.run(t, "schemas", "push", filepath.Join(dir, "missing.json"), "--type", "x")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "missing.json")
	writeFile(t, filepath.Join(dir, "bad.json"), `{"type": "no-such-type"}`)
	r = tb.run(t, "schemas", "push", filepath.Join(dir, "bad.json"), "--type", "x")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "error: Invalid schema")
}

func TestSchemasInferPushAndMode(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	emit := func(args ...string) result {
		t.Helper()
		return tb.run(t, append([]string{"-n", "shop", "emit", "--source", "/shop", "--type", "order.placed"}, args...)...)
	}
	r := tb.run(t, "-n", "shop", "schemas", "infer", "order.placed")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "(404)")

	for _, data := range []string{`{"total": 100, "currency": "EUR"}`, `{"total": 250, "currency": "EUR"}`} {
		r := emit("--subject", "order-1", "--data", data)
		require.Equal(t, 0, r.code, r.stderr)
	}
	r = emit("--data", `{"total": 5, "currency": "USD"}`, "--correlation-id", "c-1", "--time", "now")
	require.Equal(t, 0, r.code, r.stderr)

	r = tb.run(t, "-n", "shop", "schemas", "infer", "order.placed")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "Inferred from 3 event(s) of order.placed. Review it, then: ensue schemas push FILE --type order.placed\n", r.stderr)
	var doc struct {
		Type     string   `json:"type"`
		Required []string `json:"required"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
	require.Equal(t, "object", doc.Type)
	require.ElementsMatch(t, []string{"currency", "total"}, doc.Required)

	file := filepath.Join(t.TempDir(), "order.json")
	r = tb.run(t, "-n", "shop", "schemas", "infer", "order.placed", "--limit", "2", "--write", file)
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "Inferred from 2 event(s)")
	require.Contains(t, r.stderr, "ensue schemas push "+file+" --type order.placed")
	written, err := os.ReadFile(file)
	require.NoError(t, err)
	require.True(t, json.Valid(written), string(written))

	r = tb.run(t, "-n", "shop", "schemas", "push", file, "--type", "order.placed")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "order.placed version 1 registered\n", r.stdout)

	r = tb.run(t, "-n", "shop", "schemas", "mode")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "namespace shop: schema mode warn\n", r.stdout)
	r = tb.run(t, "-n", "shop", "schemas", "mode", "enforce")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "namespace shop: schema mode enforce\n", r.stdout)
	r = tb.run(t, "schemas", "mode", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"namespace": "default", "schema_mode": "warn"}`, r.stdout, "a mode is the namespace's")
	r = emit("--data", `{"total": "a lot", "currency": "EUR"}`)
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, "(422)")
	require.Contains(t, r.stderr, "/total")
	r = tb.run(t, "-n", "shop", "schemas", "mode", "strict")
	require.Equal(t, exitInput, r.code)
	require.Contains(t, r.stderr, `schema mode "strict": use off, warn or enforce`)

	// Lint: the first two lack a time and a correlationid, the third a
	// subject; the refused one is not in the log.
	r = tb.run(t, "-n", "shop", "schemas", "lint")
	require.Equal(t, 0, r.code, r.stderr)
	out := lines(r.stdout)
	require.Equal(t, []string{"TYPE", "EVENTS", "NO-SUBJECT", "NO-TIME", "NO-CORRELATIONID"}, strings.Fields(out[0]))
	require.Equal(t, []string{"order.placed", "3", "1", "2", "2"}, strings.Fields(out[1]))
	require.Equal(t, "3 event(s) examined.\n", r.stderr)
	r = tb.run(t, "-n", "lint-clean", "emit", "--source", "/shop", "--type", "order.paid", "--subject", "order-1",
		"--time", "now", "--correlation-id", "c-1")
	require.Equal(t, 0, r.code, r.stderr)
	r = tb.run(t, "-n", "lint-clean", "schemas", "lint")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "every event type carries subject, time and correlationid (1 event(s) examined)\n", r.stdout)
	r = tb.run(t, "-n", "shop", "schemas", "lint", "--limit", "1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var lint sdk.EnvelopeLint
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &lint))
	require.Equal(t, 1, lint.EventsExamined)
}
