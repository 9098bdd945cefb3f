package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/sdk"
)

// filterFlags are the record filters shared by events and tail.
type filterFlags struct {
	after                                     int64
	eventType, source, subject, correlationID string
	since, until                              string
}

func (f *filterFlags) register(cmd *cobra.Command, afterHelp string) {
	fl := cmd.Flags()
	fl.Int64Var(&f.after, "after", 0, afterHelp)
	fl.StringVar(&f.eventType, "type", "", `only this event type; a trailing * matches a prefix ("order.*")`)
	fl.StringVar(&f.source, "source", "", "only this event source")
	fl.StringVar(&f.subject, "subject", "", "only this subject (stream)")
	fl.StringVar(&f.correlationID, "correlation-id", "", "only events with this correlationid")
	fl.StringVar(&f.since, "since", "", "only records recorded at or after this time: RFC 3339, or a duration ago such as 15m or 2h")
	fl.StringVar(&f.until, "until", "", "only records recorded at or before this time: RFC 3339, or a duration ago")
}

func (f *filterFlags) query(cmd *cobra.Command) (sdk.Query, error) {
	q := sdk.Query{After: f.after, Type: f.eventType, Source: f.source, Subject: f.subject, CorrelationID: f.correlationID}
	if f.after < 0 {
		return q, usagef(cmd.CommandPath(), "--after %d: a position is 0 or more", f.after)
	}
	var err error
	if q.Since, err = parseWhen(f.since, time.Now()); err != nil {
		return q, usagef(cmd.CommandPath(), "--since %v", err)
	}
	if q.Until, err = parseWhen(f.until, time.Now()); err != nil {
		return q, usagef(cmd.CommandPath(), "--until %v", err)
	}
	return q, nil
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: use an RFC 3339 time such as 2026-03-01T10:00:00Z, or a duration ago such as 15m", s)
}

func (a *app) eventsCommand() *cobra.Command {
	var f filterFlags
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "events [flags]",
		Short: "List records of the log, oldest first",
		Long: `List records of the log in position order, one page at a time (--limit),
or every record with --all. Filters combine. A page that is full ends with a
hint on stderr telling which --after reads on.`,
		Example: `  ensue events --type 'order.*' --since 1h
  ensue events --after 100 --limit 50
  ensue events --all -o json > backup.jsonl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			q, err := f.query(cmd)
			if err != nil {
				return err
			}
			if limit < 0 || limit > 1000 {
				return usagef(cmd.CommandPath(), "--limit %d: use 1 to 1000 (or --all)", limit)
			}
			q.Limit = limit
			out := cmd.OutOrStdout()
			var table *recordTable
			if !a.json() {
				table = newRecordTable(out)
			}
			emit := func(rec sdk.Record) error {
				if table != nil {
					table.add(rec)
					return nil
				}
				return writeJSONLine(out, rec)
			}
			if all {
				for rec, err := range c.Records(cmd.Context(), q) {
					if err != nil {
						return err
					}
					if err := emit(rec); err != nil {
						return err
					}
				}
				if table != nil {
					if table.rows == 0 {
						fmt.Fprintln(cmd.ErrOrStderr(), "No records.")
					}
					return table.flush()
				}
				return nil
			}
			// One page of up to limit records. A filtered read may stop early
			// (the server bounds what one read examines): read on until the
			// page is full or the log ends, so that a page means the same
			// with and without filters.
			want := q.Limit
			if want == 0 {
				want = 100
			}
			shown := 0
			for shown < want {
				q.Limit = want - shown
				page, err := c.Events(cmd.Context(), q)
				if err != nil {
					return err
				}
				for _, rec := range page.Records {
					if err := emit(rec); err != nil {
						return err
					}
				}
				shown += len(page.Records)
				if page.End(q.After) || page.Next <= q.After {
					break
				}
				q.After = page.Next
			}
			if table != nil {
				if err := table.flush(); err != nil {
					return err
				}
				if shown == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "No records.")
				} else if shown == want {
					fmt.Fprintf(cmd.ErrOrStderr(), "More may follow: add --after %d (or use --all).\n", q.After)
				}
			}
			return nil
		},
	}
	f.register(cmd, "list records after this position (0: from the beginning)")
	cmd.Flags().IntVar(&limit, "limit", 0, "records per page, 1-1000 (default 100)")
	cmd.Flags().BoolVar(&all, "all", false, "follow the pages to the end of the log")
	return cmd
}

func (a *app) streamCommand() *cobra.Command {
	var from int64
	var limit int
	var backward bool
	cmd := &cobra.Command{
		Use:   "stream NAME",
		Short: "List the records of one stream (an event subject) in version order",
		Example: `  ensue stream order-123
  ensue stream order-123 --backward --limit 1   # the latest event`,
		Args: exactArgs(1, "NAME, the stream (subject) to read, e.g. order-123"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if from < 0 {
				return usagef(cmd.CommandPath(), "--from %d: a version is 1 or more", from)
			}
			if limit < 0 || limit > 1000 {
				return usagef(cmd.CommandPath(), "--limit %d: use 1 to 1000", limit)
			}
			page, err := c.Stream(cmd.Context(), args[0], sdk.StreamQuery{From: from, Limit: limit, Backward: backward})
			if err != nil {
				return err
			}
			if err := a.writeRecords(cmd.OutOrStdout(), page.Records); err != nil {
				return err
			}
			if !a.json() {
				fmt.Fprintf(cmd.ErrOrStderr(), "Stream %s is at version %d.\n", page.Stream, page.Version)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&from, "from", 0, "first version to show (default: 1, or the latest with --backward)")
	cmd.Flags().IntVar(&limit, "limit", 0, "most records to show, 1-1000 (default 100)")
	cmd.Flags().BoolVar(&backward, "backward", false, "newest first")
	return cmd
}

func (a *app) getCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get POSITION",
		Short: "Show the record at a position",
		Example: `  ensue get 17
  ensue get 17 -o json | jq .event.data`,
		Args: exactArgs(1, "POSITION, a record's position in the log, e.g. 17"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			pos, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || pos < 1 {
				return usagef(cmd.CommandPath(), "POSITION %q: a position is a whole number from 1", args[0])
			}
			rec, err := c.Get(cmd.Context(), pos)
			if err != nil {
				return err
			}
			return a.writeRecord(cmd.OutOrStdout(), rec)
		},
	}
}

func (a *app) lookupCommand() *cobra.Command {
	var source, id string
	cmd := &cobra.Command{
		Use:     "lookup --source SOURCE --id ID",
		Short:   "Show the record of the event with this source and id",
		Example: `  ensue lookup --source /shop --id evt-1`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if source == "" || id == "" {
				return usagef(cmd.CommandPath(), "both --source and --id are needed: together they identify an event")
			}
			rec, err := c.Lookup(cmd.Context(), source, id)
			if err != nil {
				return err
			}
			return a.writeRecord(cmd.OutOrStdout(), rec)
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "the event's source (required)")
	cmd.Flags().StringVar(&id, "id", "", "the event's id (required)")
	return cmd
}

func (a *app) correlationCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "correlation ID",
		Short: "List the events of one correlation (the root event and those whose correlationid is ID)",
		Example: `  ensue correlation evt-1
  ensue correlation evt-1 -o json | jq -r '.event.causationid'`,
		Args: exactArgs(1, "ID, a correlation id (the id of the event that started the story)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			recs, err := c.Correlation(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			a.noRecords(cmd.ErrOrStderr(), len(recs), "No events with this correlation id (yet: the correlation index may lag an append by a moment).")
			return a.writeRecords(cmd.OutOrStdout(), recs)
		},
	}
}

// writeRecords writes a list: a table, or JSON Lines.
func (a *app) writeRecords(w io.Writer, recs []sdk.Record) error {
	if a.json() {
		for _, rec := range recs {
			if err := writeJSONLine(w, rec); err != nil {
				return err
			}
		}
		return nil
	}
	t := newRecordTable(w)
	for _, rec := range recs {
		t.add(rec)
	}
	return t.flush()
}

// noRecords tells a person that an empty table is not a failure.
func (a *app) noRecords(w io.Writer, n int, what string) {
	if n == 0 && !a.json() {
		fmt.Fprintln(w, what)
	}
}

// writeRecord writes one record: in detail, or as a JSON document.
func (a *app) writeRecord(w io.Writer, rec sdk.Record) error {
	if a.json() {
		return writeJSON(w, rec)
	}
	return writeRecordDetail(w, rec)
}

// exactArgs wants n positional arguments, described by what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return usagef(cmd.CommandPath(), "missing %s", what)
		case len(args) > n:
			return usagef(cmd.CommandPath(), "too many arguments (%s): %s takes %s", strings.Join(args[n:], " "), cmd.Name(), what)
		}
		return nil
	}
}
