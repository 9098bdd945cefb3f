package event_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/event"
)

func TestParseBatch(t *testing.T) {
	t.Parallel()
	// ok marks an element expected to parse; otherwise the element's pointers.
	ok := []string(nil)
	tests := []struct {
		name  string
		body  string
		lim   event.Limits
		items [][]string // per element: nil for a valid event, else the error's pointers
	}{
		{"empty", `[]`, event.Limits{}, [][]string{}},
		{"empty with whitespace", " [ \n ] ", event.Limits{}, [][]string{}},
		{"one", `[` + with("") + `]`, event.Limits{}, [][]string{ok}},
		{"three with whitespace", "[\n " + with(`"data":[1, 2]`) + " ,\n" + with(`"subject":"s"`) + ",\t" + with("") + "\n]", event.Limits{}, [][]string{ok, ok, ok}},
		{
			"non-objects fail alone",
			`[` + with("") + `,1,"x",null,true,[],` + with("") + `]`,
			event.Limits{},
			[][]string{ok, {""}, {""}, {""}, {""}, {""}, ok},
		},
		{
			"invalid events fail alone",
			`[{},` + with(`"type":"again"`) + `,` + with(`"X":1`) + `,` + with("") + `]`,
			event.Limits{},
			[][]string{{"/specversion", "/id", "/source", "/type"}, {"/type"}, {"/X"}, ok},
		},
		{
			"reserved types",
			`[{"specversion":"1.0","id":"1","source":"/s","type":"ensue.x"}]`,
			event.Limits{},
			[][]string{{"/type"}},
		},
		{
			"reserved types allowed",
			`[{"specversion":"1.0","id":"1","source":"/s","type":"ensue.x"}]`,
			event.Limits{AllowReserved: true},
			[][]string{ok},
		},
		{
			"one too large",
			`[` + with(`"data":"`+strings.Repeat("x", 100)+`"`) + `,` + with("") + `]`,
			event.Limits{MaxEventBytes: 100},
			[][]string{{""}, ok},
		},
		{
			"exactly MaxBatch",
			`[` + with("") + `,` + with("") + `]`,
			event.Limits{MaxBatch: 2},
			[][]string{ok, ok},
		},
		{
			"data nested as deep as in a single event",
			`[` + with(`"data":`+strings.Repeat("[", event.MaxDepth-1)+strings.Repeat("]", event.MaxDepth-1)) + `]`,
			event.Limits{},
			[][]string{ok},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, errs, err := event.ParseBatch([]byte(tt.body), tt.lim)
			require.NoError(t, err)
			require.Len(t, events, len(tt.items))
			require.Len(t, errs, len(tt.items))
			for i, pointers := range tt.items {
				if pointers == nil {
					require.NoError(t, errs[i], "element %d", i)
					checkEvent(t, events[i], tt.lim)
					continue
				}
				require.Nil(t, events[i], "element %d", i)
				status := 400
				if strings.Contains(tt.name, "too large") {
					status = 413
				}
				requireError(t, errs[i], status, pointers...)
			}
		})
	}
}

func TestParseBatchWholeRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		lim  event.Limits
	}{
		{"object", with(""), event.Limits{}},
		{"string", `"[]"`, event.Limits{}},
		{"empty body", ``, event.Limits{}},
		{"malformed", `[` + with("") + `,]`, event.Limits{}},
		{"unclosed", `[` + with(""), event.Limits{}},
		{"invalid UTF-8", "[\"\xff\"]", event.Limits{}},
		{"over MaxBatch", `[` + with("") + `,` + with("") + `,` + with("") + `]`, event.Limits{MaxBatch: 2}},
		{"over the default MaxBatch", `[` + strings.Repeat("1,", event.DefaultMaxBatch) + `1]`, event.Limits{}},
		{"data nested too deep", `[` + with(`"data":`+strings.Repeat("[", event.MaxDepth)+strings.Repeat("]", event.MaxDepth)) + `]`, event.Limits{}},
		{"10,000 deep", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), event.Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, errs, err := event.ParseBatch([]byte(tt.body), tt.lim)
			require.Nil(t, events)
			require.Nil(t, errs)
			requireError(t, err, 400, "")
		})
	}
}

// A batch element parses exactly as the same event sent on its own.
func TestParseBatchMatchesStructured(t *testing.T) {
	t.Parallel()
	elems := []string{
		with(`"data":{"k": "v"}, "subject":"s","expectedversion":4`),
		with(`"sequence":12,"myext":"x","time":"2024-05-01T12:30:00Z"`),
		with(`"data_base64":"aGk="`),
	}
	events, errs, err := event.ParseBatch([]byte("["+strings.Join(elems, ",")+"]"), event.Limits{})
	require.NoError(t, err)
	for i, elem := range elems {
		require.NoError(t, errs[i])
		single, err := event.ParseStructured([]byte(elem), event.Limits{})
		require.NoError(t, err)
		require.Equal(t, single, events[i], "element %d", i)
	}
}

func TestParseBatchOfMany(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteByte('[')
	for i := range event.DefaultMaxBatch {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"%d","source":"/s","type":"t","data":{"n":%d}}`, i, i)
	}
	b.WriteByte(']')
	events, errs, err := event.ParseBatch([]byte(b.String()), event.Limits{})
	require.NoError(t, err)
	require.Len(t, events, event.DefaultMaxBatch)
	for i, ev := range events {
		require.NoError(t, errs[i])
		require.Equal(t, fmt.Sprint(i), ev.ID)
		require.Equal(t, fmt.Sprintf(`{"specversion":"1.0","id":"%d","source":"/s","type":"t","data":{"n":%d}}`, i, i), string(ev.JSON))
	}
}
