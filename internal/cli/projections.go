package cli

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/sdk"
)

const projectionNameArg = "NAME, the projection's name"

// maxStateWidth bounds the STATE column of query's table: -o json or get
// show a state whole.
const maxStateWidth = 60

func (a *app) projectionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projections",
		Short: "Read, query, rebuild and resume projections (read models folded from events)",
		Long: `A projection folds the events of its namespace into one JSON document per
key, with a reducer per event type. Create and update projections with
'ensue apply -f FILE' (kind: projection); these commands show their
progress, read and query their documents, rebuild them from the start of
the log, and resume one a reducer error stopped.`,
		RunE: commandGroup,
	}
	cmd.AddCommand(a.projectionsListCommand(), a.projectionsStatusCommand(), a.projectionsGetCommand(),
		a.projectionsQueryCommand(), a.projectionsRebuildCommand(), a.projectionsResumeCommand(),
		a.projectionsDeleteCommand())
	return cmd
}

func (a *app) projectionsListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the projections, by name, with their state and progress",
		Example: `  ensue projections list`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			list, err := c.Projections(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				for _, st := range list {
					if err := writeJSONLine(out, st); err != nil {
						return err
					}
				}
				return nil
			}
			if len(list) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No projections. Create one with 'ensue apply -f FILE' (kind: projection).")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tGENERATION\tPOSITION\tLAG")
			for _, st := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", st.Name, st.State, st.Generation, st.Position, lag(st))
			}
			return tw.Flush()
		},
	}
}

// lag says how far behind the log a projection is.
func lag(st sdk.ProjectionStatus) string {
	if st.LagPositions == 0 {
		return "0"
	}
	return fmt.Sprintf("%d position(s), %s", st.LagPositions, shortDuration(time.Duration(st.LagSeconds*float64(time.Second))))
}

func (a *app) projectionsStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show a projection: its state, progress, error, rebuild and definition",
		Long: `Show the projection's state (running, catching-up, failed or rebuilding),
the generation answering reads and the log position it has applied, how
far behind the log it is, the event a reducer refused when it failed, the
progress of a rebuild, and its definition as the server keeps it.`,
		Example: `  ensue projections status orders
  ensue projections status orders -o json | jq .error`,
		Args: exactArgs(1, projectionNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			st, err := c.Projection(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			return writeProjectionStatus(cmd.OutOrStdout(), st)
		},
	}
}

// writeProjectionStatus shows a status, one attribute a line, the
// definition last.
func writeProjectionStatus(w io.Writer, st *sdk.ProjectionStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\t%s\n", st.Name)
	fmt.Fprintf(tw, "STATE\t%s\n", st.State)
	fmt.Fprintf(tw, "GENERATION\t%d\n", st.Generation)
	fmt.Fprintf(tw, "POSITION\t%d\n", st.Position)
	fmt.Fprintf(tw, "LAG\t%s\n", lag(*st))
	if f := st.Error; f != nil {
		fmt.Fprintf(tw, "ERROR\t%s\n", f.Error)
		fmt.Fprintf(tw, "FAILED EVENT\tposition %d: %s, id %s, at %s\n", f.Position, f.EventType, f.EventID, f.At.UTC().Format(time.RFC3339Nano))
	}
	if r := st.Rebuild; r != nil {
		progress := fmt.Sprintf("generation %d at position %d of %d", r.Generation, r.Position, r.Target)
		if r.Rate > 0 {
			progress += fmt.Sprintf(", %.0f positions/s, %s left", r.Rate, shortDuration(r.ETA))
		}
		fmt.Fprintf(tw, "REBUILD\t%s\n", progress)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.Error != nil && st.State == sdk.ProjectionFailed {
		fmt.Fprintf(w, "Fix the cause, then 'ensue projections resume %s' retries the event, or '--skip %d' skips it.\n", st.Name, st.Error.Position)
	}
	_, err := fmt.Fprintf(w, "DEFINITION\n%s\n", bytes.TrimSpace(prettyJSON(st.Definition)))
	return err
}

// parseAt reads --at: a log position, or an RFC 3339 time.
func parseAt(cmd *cobra.Command, v string) (sdk.DocumentOptions, error) {
	var o sdk.DocumentOptions
	if v == "" {
		return o, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		o.AtPosition = n
		return o, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return o, usagef(cmd.CommandPath(), "--at %q: give a log position (a whole number from 1) or an RFC 3339 time such as 2026-11-29T10:00:00Z", v)
	}
	o.AtTime = t
	return o, nil
}

func (a *app) projectionsGetCommand() *cobra.Command {
	var at string
	var minPosition int64
	cmd := &cobra.Command{
		Use:   "get NAME KEY [--at POS|TIME] [--min-position N]",
		Short: "Show a document of a projection: its state now, or as it was",
		Long: `Show the state the projection folded for KEY, indented, after a line
saying the position of the last event applied to it and how many were.
--at shows it as it was after the events up to a log position, or
recorded up to an RFC 3339 time. --min-position waits (a few seconds)
until the projection has applied the log up to N, such as the position of
an event just emitted: read your writes.`,
		Example: `  ensue projections get orders o-1
  ensue projections get orders o-1 --at 42
  ensue projections get orders o-1 --at 2026-11-29T10:00:00Z
  ensue projections get orders o-1 --min-position 57 -o json | jq .state`,
		Args: exactArgs(2, "NAME and KEY, the projection's name and a document's key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			o, err := parseAt(cmd, at)
			if err != nil {
				return err
			}
			if minPosition < 0 {
				return usagef(cmd.CommandPath(), "--min-position %d: a position is a whole number from 1", minPosition)
			}
			o.MinPosition = minPosition
			doc, err := c.ProjectionDocument(cmd.Context(), args[0], args[1], o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				return writeJSON(out, doc)
			}
			fmt.Fprintf(out, "%s at position %d, %d update(s)\n", doc.Key, doc.Position, doc.Updates)
			_, err = fmt.Fprintf(out, "%s\n", bytes.TrimSpace(prettyJSON(doc.State)))
			return err
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "the state as of a log position, or an RFC 3339 time")
	cmd.Flags().Int64Var(&minPosition, "min-position", 0, "wait until the projection has applied the log up to this position")
	return cmd
}

func (a *app) projectionsQueryCommand() *cobra.Command {
	var q sdk.ProjectionQuery
	var all bool
	cmd := &cobra.Command{
		Use:   "query NAME [--filter CEL] [--order-by FIELD] [--limit N] [--all]",
		Short: "List the documents of a projection a CEL filter selects",
		Long: `List the documents the filter selects (a CEL expression over doc, the
document's state, and key; every document without one), ordered by key or
by --order-by, a top-level field of the state ("-total" descends). An
equality on an indexed field (doc.status == "shipped") reads the index.
The table cuts long states; -o json prints each document whole, one JSON
line each. --limit sets the page size; --all reads every page, else the
next page's --cursor is printed on standard error.`,
		Example: `  ensue projections query orders --filter 'doc.status == "placed"' --order-by -total
  ensue projections query orders --all -o json | jq -c .state`,
		Args: exactArgs(1, projectionNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			switch {
			case q.Limit < 0 || q.Limit > 1000:
				return usagef(cmd.CommandPath(), "--limit %d: use 1 to 1000", q.Limit)
			case q.MinPosition < 0:
				return usagef(cmd.CommandPath(), "--min-position %d: a position is a whole number from 1", q.MinPosition)
			}
			out := cmd.OutOrStdout()
			var tw *tabwriter.Writer
			rows := 0
			for {
				page, err := c.QueryProjection(cmd.Context(), args[0], q)
				if err != nil {
					return err
				}
				for _, d := range page.Documents {
					if a.json() {
						if err := writeJSONLine(out, d); err != nil {
							return err
						}
						continue
					}
					if tw == nil {
						tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
						fmt.Fprintln(tw, "KEY\tPOSITION\tUPDATES\tSTATE")
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", truncate(d.Key, maxIDWidth), d.Position, d.Updates,
						truncate(string(unescapeHTML(d.State)), maxStateWidth))
				}
				rows += len(page.Documents)
				if tw != nil {
					if err := tw.Flush(); err != nil {
						return err
					}
				}
				if page.Next == "" {
					break
				}
				if !all {
					fmt.Fprintf(cmd.ErrOrStderr(), "More may follow: add --cursor %s, or --all.\n", page.Next)
					break
				}
				// Only the first page waits for --min-position.
				q.Cursor, q.MinPosition = page.Next, 0
			}
			if rows == 0 && !a.json() {
				fmt.Fprintln(cmd.ErrOrStderr(), "No documents.")
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Filter, "filter", "", "a CEL expression over doc and key, true for the documents wanted")
	fl.StringVar(&q.OrderBy, "order-by", "", "a top-level field of the state, or key (the default); -FIELD descends")
	fl.IntVar(&q.Limit, "limit", 0, "documents per page, 1-1000 (default 100)")
	fl.BoolVar(&all, "all", false, "read every page")
	fl.StringVar(&q.Cursor, "cursor", "", "continue a listing: the cursor the previous page printed")
	fl.Int64Var(&q.MinPosition, "min-position", 0, "wait until the projection has applied the log up to this position")
	return cmd
}

// rebuildFailedErr is a rebuild stopped by a reducer error.
type rebuildFailedErr struct {
	name       string
	generation int
	failure    *sdk.ProjectionFailure
}

func (e rebuildFailedErr) Error() string {
	return fmt.Sprintf("the rebuild of %s (generation %d) stopped at position %d: event %s (%s): %s; the previous generation still answers. Fix the definition and apply it, or 'ensue projections resume %s [--skip %d]'",
		e.name, e.generation, e.failure.Position, e.failure.EventID, e.failure.EventType, e.failure.Error, e.name, e.failure.Position)
}

func (a *app) projectionsRebuildCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "rebuild NAME [--wait]",
		Short: "Build a new generation of a projection from the start of the log",
		Long: `Build a new generation of the projection from the start of the log, with
the same definition. The current generation answers reads until the new
one has caught up and replaces it. --wait waits until then, drawing the
progress on standard error when it is a terminal, and prints the new
generation; a reducer error stops the wait (exit code 1).`,
		Example: `  ensue projections rebuild orders --wait`,
		Args:    exactArgs(1, projectionNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			st, err := c.RebuildProjection(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			// Without Rebuild, the new generation caught up before the
			// server answered: it is the one answering.
			gen := st.Generation
			if st.Rebuild != nil {
				gen = st.Rebuild.Generation
			}
			if !wait {
				if a.json() {
					return writeJSONLine(out, st)
				}
				fmt.Fprintf(out, "projection/%s rebuilding: generation %d, from the start of the log\n", st.Name, gen)
				return nil
			}
			st, err = a.waitRebuild(cmd, c, st, gen)
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(out, st)
			}
			fmt.Fprintf(out, "projection/%s rebuilt: generation %d answers\n", st.Name, st.Generation)
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the new generation answers, showing its progress")
	return cmd
}

// waitRebuild polls the status until generation gen answers, drawing its
// progress.
func (a *app) waitRebuild(cmd *cobra.Command, c *sdk.Client, st *sdk.ProjectionStatus, gen int) (*sdk.ProjectionStatus, error) {
	bar := newProgress(cmd.ErrOrStderr(), a.stderrTTY, -1, "rebuilding "+st.Name)
	defer bar.done()
	var shown, target int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		r := st.Rebuild
		switch {
		case st.Generation >= gen && (r == nil || r.Generation > gen):
			return st, nil
		case r != nil && r.Generation == gen && st.State == sdk.ProjectionFailed && st.Error != nil:
			return nil, rebuildFailedErr{name: st.Name, generation: gen, failure: st.Error}
		case r == nil || r.Generation < gen:
			// Not the rebuild asked for: deleted and created again, say.
			return nil, fmt.Errorf("projection %s is at generation %d and no longer rebuilding generation %d", st.Name, st.Generation, gen)
		}
		if bar.bar != nil {
			if r.Target != target {
				target = r.Target
				bar.bar.ChangeMax64(target)
			}
			bar.add(int(r.Position - shown))
			shown = r.Position
		}
		select {
		case <-cmd.Context().Done():
			return nil, cmd.Context().Err()
		case <-tick.C:
		}
		var err error
		if st, err = c.Projection(cmd.Context(), st.Name); err != nil {
			return nil, err
		}
	}
}

func (a *app) projectionsResumeCommand() *cobra.Command {
	var skip int64
	cmd := &cobra.Command{
		Use:   "resume NAME [--skip POSITION]",
		Short: "Restart a projection a reducer error stopped: retry the event, or skip it",
		Long: `Restart a projection that failed on an event ('ensue projections status
NAME' shows which): without --skip, the reducer is given the event again;
--skip POSITION, the failed event's position, skips exactly that event.
Resuming a projection that has not failed, or skipping another position,
is refused.`,
		Example: `  ensue projections resume totals
  ensue projections resume totals --skip 17`,
		Args: exactArgs(1, projectionNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if skip < 0 {
				return usagef(cmd.CommandPath(), "--skip %d: give the failed event's position", skip)
			}
			st, err := c.ResumeProjection(cmd.Context(), args[0], skip)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				return writeJSONLine(out, st)
			}
			if skip > 0 {
				fmt.Fprintf(out, "projection/%s resumed after skipping the event at position %d\n", st.Name, skip)
			} else {
				fmt.Fprintf(out, "projection/%s resumed: the failed event is retried\n", st.Name)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&skip, "skip", 0, "skip the failed event at this position")
	return cmd
}

func (a *app) projectionsDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a projection, its definition and its documents",
		Example: `  ensue projections delete orders`,
		Args:    exactArgs(1, projectionNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteProjection(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(cmd.OutOrStdout(), map[string]any{"projection": args[0], "deleted": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "projection/%s deleted\n", args[0])
			return nil
		},
	}
}
