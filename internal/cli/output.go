package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/ensue-dev/ensue/sdk"
)

// Column widths past which table values are cut, so that one long source
// or type does not push every other column off the screen.
const (
	maxStreamWidth = 24
	maxTypeWidth   = 32
	maxSourceWidth = 32
	maxIDWidth     = 36
)

var recordColumns = "POSITION\tRECORDED\tSTREAM\tVERSION\tTYPE\tSOURCE\tID"

// recordTable writes records as an aligned table, a header first.
type recordTable struct {
	tw   *tabwriter.Writer
	rows int
}

func newRecordTable(w io.Writer) *recordTable {
	return &recordTable{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// add writes a row, after the header for the first one: an empty list
// prints nothing.
func (t *recordTable) add(rec sdk.Record) {
	if t.rows == 0 {
		fmt.Fprintln(t.tw, recordColumns)
	}
	fmt.Fprintln(t.tw, strings.Join(recordCells(rec), "\t"))
	t.rows++
	// Flush now and then, so a long listing shows up as it comes and does
	// not pile up in memory; widths are bounded, so columns stay aligned.
	if t.rows%500 == 0 {
		_ = t.tw.Flush()
	}
}

func (t *recordTable) flush() error { return t.tw.Flush() }

// recordCells are a record's table columns, in recordColumns' order.
func recordCells(rec sdk.Record) []string {
	stream, version := "-", "-"
	if rec.Stream != "" {
		stream = truncate(rec.Stream, maxStreamWidth)
		version = strconv.FormatInt(rec.Version, 10)
	}
	return []string{
		strconv.FormatInt(rec.Position, 10),
		formatTime(rec.RecordedAt),
		stream,
		version,
		truncate(rec.Event.Type, maxTypeWidth),
		truncate(rec.Event.Source, maxSourceWidth),
		truncate(rec.Event.ID, maxIDWidth),
	}
}

// formatTime shows a time in UTC to the second: enough to read a table.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// truncate cuts s to at most n characters, marking the cut with "…". It
// also replaces tabs and line breaks, which would break the table.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// writeJSON writes v as an indented JSON document, for single results.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// writeRecordDetail shows one record in full, one attribute a line, data
// last (pretty-printed when it is JSON).
func writeRecordDetail(w io.Writer, rec sdk.Record) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	ev := rec.Event
	row("POSITION", strconv.FormatInt(rec.Position, 10))
	row("RECORDED", rec.RecordedAt.UTC().Format(time.RFC3339Nano))
	row("NAMESPACE", rec.Namespace)
	if rec.Stream != "" {
		row("STREAM", rec.Stream)
		row("VERSION", strconv.FormatInt(rec.Version, 10))
	}
	row("ID", ev.ID)
	row("SOURCE", ev.Source)
	row("TYPE", ev.Type)
	row("SUBJECT", ev.Subject)
	if !ev.Time.IsZero() {
		row("TIME", ev.Time.Format(time.RFC3339Nano))
	}
	row("CONTENT TYPE", ev.DataContentType)
	row("DATA SCHEMA", ev.DataSchema)
	for _, name := range slices.Sorted(maps.Keys(ev.Extensions)) {
		v, _ := json.Marshal(ev.Extensions[name])
		if s, ok := ev.Extensions[name].(string); ok {
			v = []byte(s)
		}
		row(strings.ToUpper(name), string(v))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case ev.Data != nil:
		var pretty bytes.Buffer
		if json.Indent(&pretty, ev.Data, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(ev.Data)
		}
		fmt.Fprintf(w, "DATA\n%s\n", pretty.String())
	case ev.BinaryData != nil:
		if utf8.Valid(ev.BinaryData) {
			fmt.Fprintf(w, "DATA (%d bytes)\n%s\n", len(ev.BinaryData), ev.BinaryData)
		} else {
			fmt.Fprintf(w, "DATA (%d bytes of binary data; -o json shows them in base64)\n", len(ev.BinaryData))
		}
	}
	return nil
}
