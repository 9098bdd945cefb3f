package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/sdk"
)

// maxImportLine bounds one line of an import file: well above the server's
// largest event (1 MiB by default), so that an oversized event is reported
// by the server with its line number rather than stopping the import.
const maxImportLine = 32 << 20

// importLine is one event of an import and where it came from.
type importLine struct {
	line int
	ev   sdk.Event
}

// importFailure is an event of an import that was not stored.
type importFailure struct {
	line int
	err  error
}

// importOutcome is one line's result in -o json.
type importOutcome struct {
	Line int `json:"line"`
	*sdk.AppendResult
	Error *sdk.Problem `json:"error,omitempty"`
	// Message explains a failure found before sending (a line that is not
	// an event).
	Message string `json:"message,omitempty"`
}

// importErr says an import finished with failures, already listed.
type importErr struct{ failed, total int }

func (e importErr) Error() string {
	return fmt.Sprintf("%d of %d events were not stored (listed above with their line numbers)", e.failed, e.total)
}

type importer struct {
	a        *app
	cmd      *cobra.Command
	c        *sdk.Client
	out      io.Writer
	bar      *progress
	appended int
	dups     int
	total    int
	failures []importFailure
}

// importEvents sends the events of a JSON Lines file in batches.
func (a *app) importEvents(cmd *cobra.Command, c *sdk.Client, path string, batchSize int) error {
	var r io.Reader
	total := int64(-1)
	if path == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(path)
		if err != nil {
			return usagef(cmd.CommandPath(), "-f %s: %v", path, err)
		}
		defer f.Close()
		if a.stderrTTY {
			// Count the lines first for a bar that shows how far it got.
			if n, err := countLines(f); err == nil {
				total = n
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("-f %s: %w", path, err)
			}
		}
		r = f
	}
	im := &importer{a: a, cmd: cmd, c: c, out: cmd.OutOrStdout(),
		bar: newProgress(cmd.ErrOrStderr(), a.stderrTTY, total, "importing")}
	err := im.run(r, batchSize)
	im.bar.done()
	im.report(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if len(im.failures) > 0 {
		return importErr{failed: len(im.failures), total: im.total}
	}
	return nil
}

func countLines(r io.Reader) (int64, error) {
	var n int64
	buf := make([]byte, 64<<10)
	last := byte('\n')
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if k > 0 {
			last = buf[k-1]
		}
		if errors.Is(err, io.EOF) {
			if last != '\n' {
				n++
			}
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func (im *importer) run(r io.Reader, batchSize int) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxImportLine)
	var batch []importLine
	lineNo := 0
	for sc.Scan() {
		lineNo++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			im.bar.add(1)
			continue
		}
		im.total++
		var ev sdk.Event
		if err := json.Unmarshal(text, &ev); err != nil {
			im.fail(lineNo, fmt.Errorf("not a CloudEvent JSON object: %w", err))
			continue
		}
		if ev.ID == "" {
			im.fail(lineNo, errors.New(`"id" is missing: an import needs every event's id, so that running it again records nothing twice`))
			continue
		}
		batch = append(batch, importLine{line: lineNo, ev: ev})
		if len(batch) == batchSize {
			if err := im.send(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d MiB", maxImportLine>>20)
		}
		return fmt.Errorf("import stopped after line %d: %w", lineNo, err)
	}
	if len(batch) > 0 {
		return im.send(batch)
	}
	return nil
}

// fail records a line that was not stored.
func (im *importer) fail(line int, err error) {
	im.failures = append(im.failures, importFailure{line: line, err: err})
	im.bar.add(1)
	if im.a.json() {
		o := importOutcome{Line: line}
		if p, ok := errors.AsType[*sdk.Problem](err); ok {
			o.Error = p
		} else {
			o.Message = err.Error()
		}
		_ = writeJSONLine(im.out, o)
	}
}

// send appends one batch. A request refused as a whole (4xx) fails its
// lines and the import goes on; anything else (the server unreachable or
// failing) stops the import, since the next batches would fare no better.
func (im *importer) send(batch []importLine) error {
	events := make([]sdk.Event, len(batch))
	for i, l := range batch {
		events[i] = l.ev
	}
	results, err := im.c.AppendBatch(im.cmd.Context(), events)
	if err != nil {
		if p, ok := errors.AsType[*sdk.Problem](err); ok && p.Status < 500 {
			for _, l := range batch {
				im.fail(l.line, err)
			}
			return nil
		}
		return fmt.Errorf("import stopped at line %d (the lines before it were sent; running the import again is safe: stored events answer as duplicates): %w", batch[0].line, err)
	}
	for i, res := range results {
		line := batch[i].line
		if res.Problem != nil {
			p := *res.Problem
			p.Index = nil // the line number says where
			im.fail(line, &p)
			continue
		}
		if res.Result.Duplicate {
			im.dups++
		} else {
			im.appended++
		}
		im.bar.add(1)
		if im.a.json() {
			r := res.Result
			if err := writeJSONLine(im.out, importOutcome{Line: line, AppendResult: &r}); err != nil {
				return err
			}
		}
	}
	return nil
}

// report lists the failures and ends with the summary line.
func (im *importer) report(w io.Writer) {
	// Lines refused before sending come before their batch's answers: put
	// them back in file order.
	slices.SortStableFunc(im.failures, func(a, b importFailure) int { return a.line - b.line })
	for _, f := range im.failures {
		fmt.Fprintf(w, "line %d: %v\n", f.line, f.err)
		writeProblemDetails(w, f.err, "  ")
	}
	fmt.Fprintf(w, "%d appended, %d duplicates, %d failed\n", im.appended, im.dups, len(im.failures))
}
