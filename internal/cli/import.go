package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/sdk"
)

// maxImportLine bounds one line of an import file: well above the server's
// largest event (1 MiB by default), so that an oversized event is reported
// by the server with its line number rather than stopping the import.
const maxImportLine = 32 << 20

// importLine is one line of an import: an event to send, or the reason it
// cannot be.
type importLine struct {
	line int
	ev   sdk.Event
	err  error // set when the line is not an event to send
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
	// window holds the lines read since the last request, failed ones
	// included, so that outcomes come out in file order.
	var window []importLine
	events := 0
	lineNo := 0
	for sc.Scan() {
		lineNo++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			im.bar.add(1)
			continue
		}
		im.total++
		l := importLine{line: lineNo}
		if err := json.Unmarshal(text, &l.ev); err != nil {
			l.err = fmt.Errorf("not a CloudEvent JSON object: %w", err)
		} else if l.ev.ID == "" {
			l.err = errors.New(`"id" is missing: an import needs every event's id, so that running it again records nothing twice`)
		} else {
			events++
		}
		window = append(window, l)
		if events == batchSize {
			if err := im.send(window); err != nil {
				return err
			}
			window, events = window[:0], 0
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d MiB", maxImportLine>>20)
		}
		if sendErr := im.send(window); sendErr != nil {
			return sendErr
		}
		return fmt.Errorf("import stopped after line %d: %w", lineNo, err)
	}
	return im.send(window)
}

// fail records a line that was not stored.
func (im *importer) fail(line int, err error) error {
	im.failures = append(im.failures, importFailure{line: line, err: err})
	im.bar.add(1)
	if !im.a.json() {
		return nil
	}
	o := importOutcome{Line: line}
	if p, ok := errors.AsType[*sdk.Problem](err); ok {
		o.Error = p
	} else {
		o.Message = err.Error()
	}
	return writeJSONLine(im.out, o)
}

// send appends the events of a window in one request and accounts for
// every line of it. A request refused as a whole (4xx) fails its lines and
// the import goes on; anything else (the server unreachable or failing)
// stops the import, since the next batches would fare no better.
func (im *importer) send(window []importLine) error {
	var events []sdk.Event
	for _, l := range window {
		if l.err == nil {
			events = append(events, l.ev)
		}
	}
	var results []sdk.BatchResult
	var batchErr error
	if len(events) > 0 {
		var err error
		results, err = im.c.AppendBatch(im.cmd.Context(), events)
		if p, ok := errors.AsType[*sdk.Problem](err); ok && p.Status < 500 {
			batchErr = err
		} else if err != nil {
			for _, l := range window {
				if l.err == nil {
					return fmt.Errorf("import stopped at line %d (the lines before it were sent; running the import again is safe: stored events answer as duplicates): %w", l.line, err)
				}
			}
		}
	}
	next := 0
	for _, l := range window {
		var err error
		switch {
		case l.err != nil:
			err = im.fail(l.line, l.err)
		case batchErr != nil:
			err = im.fail(l.line, batchErr)
		default:
			res := results[next]
			next++
			err = im.stored(l.line, res)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// stored accounts for one line the server answered.
func (im *importer) stored(line int, res sdk.BatchResult) error {
	if res.Problem != nil {
		p := *res.Problem
		p.Index = nil // the line number says where
		return im.fail(line, &p)
	}
	if res.Result.Duplicate {
		im.dups++
	} else {
		im.appended++
	}
	im.bar.add(1)
	if !im.a.json() {
		return nil
	}
	r := res.Result
	return writeJSONLine(im.out, importOutcome{Line: line, AppendResult: &r})
}

// report lists the failures and ends with the summary line.
func (im *importer) report(w io.Writer) {
	for _, f := range im.failures {
		fmt.Fprintf(w, "line %d: %v\n", f.line, f.err)
		writeProblemDetails(w, f.err, "  ")
	}
	fmt.Fprintf(w, "%d appended, %d duplicates, %d failed\n", im.appended, im.dups, len(im.failures))
}
