package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/sdk"
)

type emitFlags struct {
	eventType, source, id, subject, time string
	data, contentType                    string
	exts                                 []string
	expectedVersion                      int64
	correlationID, causationID           string

	file  string
	batch int
}

func (a *app) emitCommand() *cobra.Command {
	var f emitFlags
	cmd := &cobra.Command{
		Use:   "emit --type TYPE --source SOURCE [flags] | emit -f FILE",
		Short: "Append an event, or import many from a JSON Lines file",
		Long: `Append one event built from flags, or import a file of events.

One event: --type and --source are required; the id is generated unless
--id is given (give one when a retry must not record the event twice).
--data takes JSON text, @FILE for a file's content, or - for standard input.
With a --content-type that is not JSON, data is sent as text (or base64 when
it is not UTF-8).

Import: -f FILE (or -f - for standard input) reads one CloudEvent JSON object
per line and sends them in batches of --batch. Every event needs its id, so
that running the import again records nothing twice. Events that fail are
listed with their line number; the other events are stored.`,
		Example: `  ensue emit --type order.placed --source /shop --subject order-123 --data '{"total": 1250}'
  ensue emit --type order.cancelled --source /shop --subject order-123 --expected-version 3
  ensue emit --type reading.taken --source /sensors --data @reading.json --ext sequence=42
  ensue emit -f events.jsonl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if f.file != "" {
				if err := f.checkImportFlags(cmd); err != nil {
					return err
				}
				return a.importEvents(cmd, c, f.file, f.batch)
			}
			ev, err := f.event(cmd)
			if err != nil {
				return err
			}
			res, err := c.Append(cmd.Context(), ev)
			if err != nil {
				return err
			}
			return a.printAppendResult(cmd.OutOrStdout(), res)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.eventType, "type", "", "event type, e.g. order.placed (required)")
	fl.StringVar(&f.source, "source", "", "event source, e.g. /shop (required)")
	fl.StringVar(&f.id, "id", "", "event id (default: a generated UUID)")
	fl.StringVar(&f.subject, "subject", "", "subject: the stream the event belongs to, e.g. order-123")
	fl.StringVar(&f.time, "time", "", `when it happened: RFC 3339, or "now"`)
	fl.StringVar(&f.data, "data", "", "payload: JSON text, @FILE, or - for standard input")
	fl.StringVar(&f.contentType, "content-type", "", "datacontenttype of the payload (default application/json)")
	fl.StringArrayVar(&f.exts, "ext", nil, `extension attribute key=value, repeatable; integers and true/false are sent as such, "quoted" values as strings`)
	fl.Int64Var(&f.expectedVersion, "expected-version", 0, "fail unless the subject's stream is at this version (0: it must not exist)")
	fl.StringVar(&f.correlationID, "correlation-id", "", "correlationid extension: the id of the event that started this story")
	fl.StringVar(&f.causationID, "causation-id", "", "causationid extension: the id of the event that caused this one")
	fl.StringVarP(&f.file, "file", "f", "", "import events from this JSON Lines file (- for standard input)")
	fl.IntVar(&f.batch, "batch", 500, "events per request when importing (1-1000)")
	return cmd
}

// singleEventFlags are the flags that describe one event, which an import
// does not take.
var singleEventFlags = []string{"type", "source", "id", "subject", "time", "data", "content-type", "ext", "expected-version", "correlation-id", "causation-id"}

func (f *emitFlags) checkImportFlags(cmd *cobra.Command) error {
	for _, name := range singleEventFlags {
		if cmd.Flags().Changed(name) {
			return usagef(cmd.CommandPath(), "--%s describes one event and cannot be combined with -f: put it in the file's events", name)
		}
	}
	if f.batch < 1 || f.batch > 1000 {
		return usagef(cmd.CommandPath(), "--batch %d: use 1 to 1000 events per request", f.batch)
	}
	return nil
}

// event builds the event the flags describe.
func (f *emitFlags) event(cmd *cobra.Command) (sdk.Event, error) {
	path := cmd.CommandPath()
	if cmd.Flags().Changed("batch") {
		return sdk.Event{}, usagef(path, "--batch applies to imports (-f) only")
	}
	var missing []string
	if f.eventType == "" {
		missing = append(missing, "--type (what happened, e.g. order.placed)")
	}
	if f.source == "" {
		missing = append(missing, "--source (who says so, e.g. /shop)")
	}
	if len(missing) > 0 {
		return sdk.Event{}, usagef(path, "missing %s", strings.Join(missing, " and "))
	}
	ev := sdk.Event{
		ID: f.id, Source: f.source, Type: f.eventType, Subject: f.subject,
		DataContentType: f.contentType,
	}
	switch f.time {
	case "":
	case "now":
		ev.Time = time.Now().UTC()
	default:
		t, err := time.Parse(time.RFC3339Nano, f.time)
		if err != nil {
			return sdk.Event{}, usagef(path, `--time %q is not an RFC 3339 time such as 2026-03-01T10:15:00Z (or "now")`, f.time)
		}
		ev.Time = t
	}
	if cmd.Flags().Changed("expected-version") {
		if f.subject == "" {
			return sdk.Event{}, usagef(path, "--expected-version needs --subject: a version belongs to a stream")
		}
		if f.expectedVersion < 0 {
			return sdk.Event{}, usagef(path, "--expected-version %d: a version is 0 or more", f.expectedVersion)
		}
		ev.ExpectedVersion = sdk.ExpectVersion(f.expectedVersion)
	}
	for _, kv := range f.exts {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			return sdk.Event{}, usagef(path, "--ext %q: write key=value, e.g. --ext sequence=42", kv)
		}
		if ev.Extensions == nil {
			ev.Extensions = map[string]any{}
		}
		ev.Extensions[key] = extensionValue(value)
	}
	for key, v := range map[string]string{"correlationid": f.correlationID, "causationid": f.causationID} {
		if v == "" {
			continue
		}
		if ev.Extensions == nil {
			ev.Extensions = map[string]any{}
		}
		ev.Extensions[key] = v
	}
	if cmd.Flags().Changed("data") {
		raw, err := readData(cmd, f.data)
		if err != nil {
			return sdk.Event{}, err
		}
		data, err := eventData(path, raw, f.contentType)
		if err != nil {
			return sdk.Event{}, err
		}
		ev.Data = data
	}
	return ev, nil
}

// extensionValue reads an --ext value: an integer or a boolean keeps its
// type, a JSON string literal is unquoted, anything else is a string.
func extensionValue(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	if strings.HasPrefix(s, `"`) {
		var unquoted string
		if json.Unmarshal([]byte(s), &unquoted) == nil {
			return unquoted
		}
	}
	return s
}

// readData resolves --data: literal text, @FILE, or - for standard input.
func readData(cmd *cobra.Command, arg string) ([]byte, error) {
	switch {
	case arg == "-":
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, fmt.Errorf("--data -: read standard input: %w", err)
		}
		return b, nil
	case strings.HasPrefix(arg, "@"):
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, usagef(cmd.CommandPath(), "--data %s: %v", arg, err)
		}
		return b, nil
	}
	return []byte(arg), nil
}

// isJSONMediaType reports whether a datacontenttype is JSON; empty means
// JSON in CloudEvents' JSON format.
func isJSONMediaType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// eventData turns --data's bytes into the event's data for its content type.
func eventData(cmdPath string, raw []byte, contentType string) (any, error) {
	if isJSONMediaType(contentType) {
		trimmed := []byte(strings.TrimSpace(string(raw)))
		var v any
		if err := json.Unmarshal(trimmed, &v); err != nil {
			return nil, usagef(cmdPath, "--data is not valid JSON (%v); quote text as JSON (--data '\"hello\"') or set --content-type, e.g. text/plain", err)
		}
		return json.RawMessage(trimmed), nil
	}
	if utf8.Valid(raw) {
		return string(raw), nil
	}
	return raw, nil
}

func (a *app) printAppendResult(w io.Writer, res sdk.AppendResult) error {
	if a.json() {
		return writeJSON(w, res)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	stream, version := "-", "-"
	if res.Stream != "" {
		stream, version = res.Stream, strconv.FormatInt(res.Version, 10)
	}
	fmt.Fprintln(tw, "POSITION\tSTREAM\tVERSION\tDUPLICATE\tID")
	fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%s\n", res.Position, stream, version, res.Duplicate, res.ID)
	return tw.Flush()
}

// noArgs refuses positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef(cmd.CommandPath(), "unexpected argument %q: %s takes flags only", args[0], cmd.CommandPath())
	}
	return nil
}
