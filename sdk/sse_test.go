package sdk

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

func readAllMessages(t *testing.T, r io.Reader) []sseMessage {
	t.Helper()
	sr := newSSEReader(r)
	var out []sseMessage
	for {
		m, err := sr.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, m)
	}
}

func TestSSEReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		want  []sseMessage
	}{
		{
			name:  "record with id",
			input: "id: 17\ndata: {\"position\":17}\n\n",
			want:  []sseMessage{{Data: `{"position":17}`, HasData: true, ID: "17", HasID: true, Retry: -1}},
		},
		{
			name:  "comments and blank lines are skipped",
			input: ": ping\n\n: ping\n\nid: 1\ndata: x\n\n",
			want:  []sseMessage{{Data: "x", HasData: true, ID: "1", HasID: true, Retry: -1}},
		},
		{
			name:  "multi-line data joined with LF",
			input: "data: a\ndata:b\ndata:  c\n\n",
			want:  []sseMessage{{Data: "a\nb\n c", HasData: true, Retry: -1}},
		},
		{
			name:  "CRLF and CR line ends",
			input: "id: 2\r\ndata: y\r\n\r\nid: 3\rdata: z\r\r",
			want: []sseMessage{
				{Data: "y", HasData: true, ID: "2", HasID: true, Retry: -1},
				{Data: "z", HasData: true, ID: "3", HasID: true, Retry: -1},
			},
		},
		{
			name:  "id alone is dispatched for resuming",
			input: "id: 40\n\n",
			want:  []sseMessage{{ID: "40", HasID: true, Retry: -1}},
		},
		{
			name:  "retry digits only",
			input: "retry: 250\n\nretry: 1x\ndata: d\n\n",
			want: []sseMessage{
				{Retry: 250},
				{Data: "d", HasData: true, Retry: -1},
			},
		},
		{
			name:  "event type and field without colon",
			input: "event: record\ndata\n\n",
			want:  []sseMessage{{Event: "record", HasData: true, Retry: -1}},
		},
		{
			name:  "id with NUL is ignored",
			input: "id: 1\x002\ndata: q\n\n",
			want:  []sseMessage{{Data: "q", HasData: true, Retry: -1}},
		},
		{
			name:  "incomplete last event is dropped",
			input: "data: done\n\ndata: cut",
			want:  []sseMessage{{Data: "done", HasData: true, Retry: -1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, readAllMessages(t, strings.NewReader(tt.input)))
			// Byte-at-a-time delivery, as a slow network gives it, changes nothing.
			require.Equal(t, tt.want, readAllMessages(t, iotest.OneByteReader(strings.NewReader(tt.input))))
		})
	}
}

func TestSSEReaderLongLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1<<20)
	got := readAllMessages(t, strings.NewReader("data: "+long+"\n\n"))
	require.Len(t, got, 1)
	require.Equal(t, long, got[0].Data)
}

func FuzzSSEReader(f *testing.F) {
	f.Add("id: 1\ndata: {}\n\n")
	f.Add(": ping\r\n\r\nretry: 10\rdata\n\n")
	f.Add("data: a\ndata: b\n\nid: 2\n\n")
	f.Fuzz(func(t *testing.T, input string) {
		whole := newSSEReader(strings.NewReader(input))
		bytewise := newSSEReader(iotest.OneByteReader(strings.NewReader(input)))
		for {
			a, errA := whole.next()
			b, errB := bytewise.next()
			if errA != nil || errB != nil {
				if !errors.Is(errA, io.EOF) || !errors.Is(errB, io.EOF) {
					t.Fatalf("errors differ or are not EOF: %v, %v", errA, errB)
				}
				return
			}
			if a != b {
				t.Fatalf("chunking changed the parse: %+v vs %+v", a, b)
			}
			if strings.ContainsAny(a.ID, "\x00\r\n") {
				t.Fatalf("bad id %q", a.ID)
			}
		}
	})
}
