package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/sdk"
)

// definitionFile is one file given to apply, read.
type definitionFile struct {
	name    string
	content []byte
}

// applyErr says files had problems, already listed, and nothing was applied.
type applyErr struct{ failed, total int }

func (e applyErr) Error() string {
	return fmt.Sprintf("nothing applied: %d of %d file(s) have problems (listed above)", e.failed, e.total)
}

func (a *app) applyCommand() *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR [--dry-run]",
		Short: "Create or update flows from definition files (YAML or JSON)",
		Long: `Apply the definitions of a file, or of every .yaml, .yml and .json file
under a directory (recursively, in name order, skipping directories whose
name starts with a dot). -f - reads standard input.

Every file is checked by the server first; if any has a problem, nothing is
applied and each problem is listed as file:line:column. A definition equal
to the flow's current one changes nothing. --dry-run only says what would
change.`,
		Example: `  ensue apply -f flows/
  ensue apply -f notify-big-orders.yaml --dry-run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if file == "" {
				return usagef(cmd.CommandPath(), "missing -f FILE|DIR: the definitions to apply")
			}
			files, err := readDefinitionFiles(cmd, file)
			if err != nil {
				return err
			}
			// Check every file before applying any, so that one bad file in
			// a directory leaves the server as it was.
			plans := make([]*sdk.ApplyResponse, len(files))
			failed := 0
			defined := map[string]string{} // flow name -> the file defining it
			for i, f := range files {
				res, err := c.ApplyFile(cmd.Context(), f.name, f.content, true)
				if de, ok := errors.AsType[*sdk.DefinitionError](err); ok {
					writeDefinitionProblems(cmd.ErrOrStderr(), de)
					failed++
					continue
				}
				if err != nil {
					return err
				}
				plans[i] = res
				for _, r := range res.Results {
					key := r.Kind + "/" + r.Name
					if other, ok := defined[key]; ok {
						fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s is defined in %s too; define each flow once\n", f.name, key, other)
						failed++
					}
					defined[key] = f.name
				}
			}
			if failed > 0 {
				return applyErr{failed: failed, total: len(files)}
			}
			out := cmd.OutOrStdout()
			if dryRun {
				for _, res := range plans {
					if err := a.writeApplyResults(out, res); err != nil {
						return err
					}
				}
				return nil
			}
			for _, f := range files {
				res, err := c.ApplyFile(cmd.Context(), f.name, f.content, false)
				if de, ok := errors.AsType[*sdk.DefinitionError](err); ok {
					// Changed on the server since the check: say so plainly.
					writeDefinitionProblems(cmd.ErrOrStderr(), de)
					return fmt.Errorf("%s was not applied (the files listed before it were)", f.name)
				}
				if err != nil {
					return err
				}
				if err := a.writeApplyResults(out, res); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "a definition file, a directory of them, or - for standard input (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only say what would change")
	return cmd
}

// definitionExts are the extensions of the files apply reads in a directory.
var definitionExts = []string{".yaml", ".yml", ".json"}

// readDefinitionFiles reads the file, the standard input (-) or every
// definition file under a directory, sorted by path.
func readDefinitionFiles(cmd *cobra.Command, path string) ([]definitionFile, error) {
	if path == "-" {
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, fmt.Errorf("-f -: reading standard input: %w", err)
		}
		return []definitionFile{{name: "stdin", content: b}}, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, usagef(cmd.CommandPath(), "-f %s: %v", path, errors.Unwrap(err))
	}
	if !st.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef(cmd.CommandPath(), "-f %s: %v", path, err)
		}
		return []definitionFile{{name: path, content: b}}, nil
	}
	var files []definitionFile
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !slices.Contains(definitionExts, strings.ToLower(filepath.Ext(p))) || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, definitionFile{name: p, content: b})
		return nil
	})
	if err != nil {
		return nil, usagef(cmd.CommandPath(), "-f %s: %v", path, err)
	}
	if len(files) == 0 {
		return nil, usagef(cmd.CommandPath(), "-f %s: no .yaml, .yml or .json file in this directory", path)
	}
	// WalkDir visits in lexical order already; sort anyway so the order
	// does not depend on it.
	slices.SortFunc(files, func(x, y definitionFile) int { return strings.Compare(x.name, y.name) })
	return files, nil
}

// writeDefinitionProblems lists a refused file's problems, one a line, as
// file:line:column: path: message (the form editors jump to).
func writeDefinitionProblems(w io.Writer, de *sdk.DefinitionError) {
	if len(de.Problems) == 0 {
		fmt.Fprintf(w, "%s: %s\n", de.File, de.Problem.Detail)
		return
	}
	for _, p := range de.Problems {
		msg := p.Message
		where := de.File + ":"
		if p.Line > 0 {
			where += fmt.Sprintf("%d:%d:", p.Line, p.Column)
			// The server repeats the place in the message.
			msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d, column %d: ", p.Line, p.Column))
		}
		if path := pointerPath(p.Pointer); path != "" {
			msg = path + ": " + msg
		}
		fmt.Fprintf(w, "%s %s\n", where, msg)
	}
}

// pointerPath turns a JSON pointer (/steps/0/http/url) back into the path
// a definition's author knows (steps[0].http.url).
func pointerPath(ptr string) string {
	if ptr == "" || ptr == "/" {
		return ""
	}
	var b strings.Builder
	for i, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// writeApplyResults writes one line per document: a sentence, or JSON.
func (a *app) writeApplyResults(w io.Writer, res *sdk.ApplyResponse) error {
	for _, r := range res.Results {
		if a.json() {
			if err := writeJSONLine(w, r); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(w, applyLine(r, res.DryRun))
	}
	return nil
}

// applyLine says what applying one document did (or would do).
func applyLine(r sdk.ApplyResult, dryRun bool) string {
	kind := r.Kind
	if kind == "" {
		kind = "flow"
	}
	s := kind + "/" + r.Name + " "
	if r.Outcome == sdk.OutcomeUnchanged {
		return s + "unchanged"
	}
	if dryRun {
		s += "would be "
	}
	s += fmt.Sprintf("%s (version %d)", r.Outcome, r.Version)
	if len(r.Changes) > 0 {
		s += ": " + strings.Join(r.Changes, ", ")
	}
	return s
}

func (a *app) flowsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "List, show, enable, disable, delete and explain flows",
		Long:  `Manage the flows of the namespace. Create and update them with 'ensue apply'.`,
		RunE:  commandGroup,
	}
	cmd.AddCommand(a.flowsListCommand(), a.flowsGetCommand(), a.flowsDeleteCommand(),
		a.flowsEnableCommand(true), a.flowsEnableCommand(false), a.flowsSecretCommand(), a.flowsExplainCommand())
	return cmd
}

const flowNameArg = "NAME, the flow's name"

func (a *app) flowsListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the flows, by name",
		Example: `  ensue flows list`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			flows, err := c.Flows(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				for _, f := range flows {
					if err := writeJSONLine(out, f); err != nil {
						return err
					}
				}
				return nil
			}
			if len(flows) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No flows. Create one with 'ensue apply -f FILE'.")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tENABLED\tUPDATED")
			for _, f := range flows {
				fmt.Fprintf(tw, "%s\t%d\t%v\t%s\n", f.Name, f.Version, f.Enabled, formatTime(f.UpdatedAt))
			}
			return tw.Flush()
		},
	}
}

func (a *app) flowsGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a flow: its state and its definition (defaults filled in)",
		Example: `  ensue flows get notify-big-orders
  ensue flows get notify-big-orders -o json | jq .definition`,
		Args: exactArgs(1, flowNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			f, err := c.Flow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				return writeJSON(out, f)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "NAME\t%s\n", f.Name)
			fmt.Fprintf(tw, "VERSION\t%d\n", f.Version)
			fmt.Fprintf(tw, "ENABLED\t%v\n", f.Enabled)
			fmt.Fprintf(tw, "UPDATED\t%s\n", f.UpdatedAt.UTC().Format(time.RFC3339Nano))
			fmt.Fprintf(tw, "POSITION\t%d\n", f.Position)
			fmt.Fprintf(tw, "HASH\t%s\n", f.Hash)
			if err := tw.Flush(); err != nil {
				return err
			}
			var pretty bytes.Buffer
			if json.Indent(&pretty, f.Definition, "", "  ") != nil {
				pretty.Reset()
				pretty.Write(f.Definition)
			}
			_, err = fmt.Fprintf(out, "DEFINITION\n%s\n", unescapeHTML(pretty.Bytes()))
			return err
		},
	}
}

func (a *app) flowsDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a flow: it starts no more runs; runs in progress finish",
		Example: `  ensue flows delete notify-big-orders`,
		Args:    exactArgs(1, flowNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteFlow(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(cmd.OutOrStdout(), map[string]any{"flow": args[0], "deleted": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "flow/%s deleted\n", args[0])
			return nil
		},
	}
}

func (a *app) flowsEnableCommand(enable bool) *cobra.Command {
	use, short := "enable", "Enable a flow: the events appended from now on start its runs"
	if !enable {
		use, short = "disable", "Disable a flow: the events appended while it is disabled never start a run"
	}
	return &cobra.Command{
		Use:     use + " NAME",
		Short:   short,
		Example: "  ensue flows " + use + " notify-big-orders",
		Args:    exactArgs(1, flowNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			var f *sdk.Flow
			if enable {
				f, err = c.EnableFlow(cmd.Context(), args[0])
			} else {
				f, err = c.DisableFlow(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(cmd.OutOrStdout(), f)
			}
			state := "enabled"
			if !f.Enabled {
				state = "disabled"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "flow/%s %s (version %d)\n", f.Name, state, f.Version)
			return nil
		},
	}
}

func (a *app) flowsSecretCommand() *cobra.Command {
	var rotate bool
	cmd := &cobra.Command{
		Use:   "secret NAME [--rotate]",
		Short: "Generate the secret that signs the flow's webhook requests, shown once",
		Long: `Generate the flow's signing secret (Standard Webhooks, whsec_...) and print
it. The server shows it this once: give it to the receiver, which verifies
the webhook-signature header with it. A flow that has a secret already is
refused unless --rotate is given; the old secret then stops working.`,
		Example: `  ensue flows secret notify-big-orders
  ensue flows secret notify-big-orders --rotate`,
		Args: exactArgs(1, flowNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			s, err := c.FlowSecret(cmd.Context(), args[0], rotate)
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(cmd.OutOrStdout(), map[string]string{"flow": args[0], "secret": s})
			}
			fmt.Fprintln(cmd.OutOrStdout(), s)
			fmt.Fprintln(cmd.ErrOrStderr(), "This secret is shown once: store it now, with the receiver that verifies the signatures.")
			return nil
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "replace the flow's secret (the old one stops working)")
	return cmd
}

func (a *app) flowsExplainCommand() *cobra.Command {
	var eventFile string
	var position int64
	cmd := &cobra.Command{
		Use:   "explain NAME (--event FILE|- | --position N)",
		Short: "Say whether an event triggers a flow, and which condition decided",
		Long: `Evaluate the flow's trigger against an event and show each condition
checked: the event in a file (a CloudEvent in JSON; - for standard input),
or the event recorded at a position of the log. Nothing is run or recorded.`,
		Example: `  ensue flows explain notify-big-orders --position 17
  ensue flows explain notify-big-orders --event order.json`,
		Args: exactArgs(1, flowNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			var ex *sdk.Explanation
			switch {
			case (eventFile == "") == (position == 0):
				return usagef(cmd.CommandPath(), "give the event: --event FILE (or - for standard input), or --position N of a recorded one")
			case position < 0:
				return usagef(cmd.CommandPath(), "--position %d: a position is a whole number from 1", position)
			case position > 0:
				ex, err = c.ExplainFlowAt(cmd.Context(), args[0], position)
			default:
				var b []byte
				if eventFile == "-" {
					b, err = io.ReadAll(cmd.InOrStdin())
				} else {
					b, err = os.ReadFile(eventFile)
				}
				if err != nil {
					return usagef(cmd.CommandPath(), "--event %s: %v", eventFile, err)
				}
				ex, err = c.ExplainFlowJSON(cmd.Context(), args[0], b)
			}
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSON(cmd.OutOrStdout(), ex)
			}
			return writeExplanation(cmd.OutOrStdout(), ex)
		},
	}
	cmd.Flags().StringVar(&eventFile, "event", "", "a file holding the event (CloudEvent JSON), or - for standard input")
	cmd.Flags().Int64Var(&position, "position", 0, "the position of a recorded event")
	return cmd
}

// writeExplanation writes the verdict on one line, then the checks.
func writeExplanation(w io.Writer, ex *sdk.Explanation) error {
	switch {
	case ex.Triggered:
		fmt.Fprintln(w, "triggers")
	case ex.Note != "":
		fmt.Fprintf(w, "does not trigger: %s\n", ex.Note)
	default:
		verdict := "does not trigger"
		if n := len(ex.Checks); n > 0 && !ex.Checks[n-1].Passed {
			verdict += ": " + failedCheck(ex.Checks[n-1])
		}
		fmt.Fprintln(w, verdict)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONDITION\tEXPECTED\tACTUAL\tPASSED")
	for _, ch := range ex.Checks {
		actual := jsonText(ch.Actual)
		if ch.Error != "" {
			actual = "error: " + ch.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", ch.Condition, truncate(ch.Expected, 60), truncate(actual, 60), ch.Passed)
	}
	return tw.Flush()
}

// failedCheck says what a failed condition saw: "when failed
// (event.data.total = 900)".
func failedCheck(ch sdk.Check) string {
	s := ch.Condition + " failed"
	var seen []string
	switch {
	case ch.Error != "":
		seen = append(seen, "error: "+ch.Error)
	case len(ch.Values) > 0:
		for _, k := range slices.Sorted(maps.Keys(ch.Values)) {
			seen = append(seen, k+" = "+jsonText(ch.Values[k]))
		}
	case ch.Condition == "type" || ch.Condition == "source":
		seen = append(seen, fmt.Sprintf("%s %s does not match %s", ch.Condition, jsonText(ch.Actual), ch.Expected))
	}
	if len(seen) > 0 {
		s += " (" + strings.Join(seen, ", ") + ")"
	}
	return s
}

// jsonText shows a decoded JSON value: strings bare, the rest as JSON.
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return "-"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// runFlags are the filters of runs list and deadletters list.
type runFlags struct {
	flow, status, correlation, cursor string
	limit                             int
	wait                              time.Duration
}

func (f *runFlags) register(cmd *cobra.Command, withStatus bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.flow, "flow", "", "only the runs of this flow")
	if withStatus {
		fl.StringVar(&f.status, "status", "", "only runs in this status: pending, running, completed, dead_lettered or discarded")
		fl.StringVar(&f.correlation, "correlation", "", "only the runs of this correlation id")
	}
	fl.IntVar(&f.limit, "limit", 0, "runs per page, 1-1000 (default 100)")
	fl.StringVar(&f.cursor, "cursor", "", "continue a listing: the cursor the previous page printed")
	if withStatus {
		fl.DurationVar(&f.wait, "wait", 0, "wait up to this long (e.g. 10s) until no run listed is pending or running")
	}
}

func (f *runFlags) query(cmd *cobra.Command) (sdk.RunQuery, error) {
	if f.limit < 0 || f.limit > 1000 {
		return sdk.RunQuery{}, usagef(cmd.CommandPath(), "--limit %d: use 1 to 1000", f.limit)
	}
	return sdk.RunQuery{Flow: f.flow, Status: f.status, CorrelationID: f.correlation, Limit: f.limit, Cursor: f.cursor}, nil
}

func (a *app) runsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List and show the runs of flows",
		RunE:  commandGroup,
	}
	var f runFlags
	list := &cobra.Command{
		Use:   "list [--flow F] [--status S] [--correlation C] [--limit N]",
		Short: "List runs, by flow, then in the order of the events that triggered them",
		Example: `  ensue runs list --flow notify-big-orders
  ensue runs list --status dead_lettered -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listRuns(cmd, &f, false)
		},
	}
	f.register(list, true)
	var wait time.Duration
	show := &cobra.Command{
		Use:   "show ID [--wait D]",
		Short: "Show a run: its trigger, its steps and their attempts",
		Example: `  ensue runs show notify-big-orders-17
  ensue runs show notify-big-orders-17 --wait 30s   # once it has finished`,
		Args: exactArgs(1, "ID, a run id (<flow>-<position>)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			var run *sdk.Run
			err = waitUntil(cmd.Context(), wait, func() (bool, error) {
				run, err = c.Run(cmd.Context(), args[0])
				if wait > 0 && errors.Is(err, sdk.ErrNotFound) {
					return false, nil // the trigger may not have been seen yet
				}
				return err == nil && finished(*run), err
			})
			if errors.Is(err, errStillRunning) && run != nil {
				if werr := a.writeRun(cmd.OutOrStdout(), run); werr != nil {
					return werr
				}
				return fmt.Errorf("run %s is still %s after --wait %s", run.ID, run.Status, wait)
			}
			if errors.Is(err, errStillRunning) {
				return fmt.Errorf("no run %s after --wait %s", args[0], wait)
			}
			if err != nil {
				return err
			}
			return a.writeRun(cmd.OutOrStdout(), run)
		},
	}
	show.Flags().DurationVar(&wait, "wait", 0, "wait up to this long (e.g. 30s) for the run to exist and finish")
	cmd.AddCommand(list, show)
	return cmd
}

// listRuns lists a page of runs or of dead letters.
func (a *app) listRuns(cmd *cobra.Command, f *runFlags, dead bool) error {
	c, err := a.client(cmd)
	if err != nil {
		return err
	}
	q, err := f.query(cmd)
	if err != nil {
		return err
	}
	var page *sdk.RunPage
	err = waitUntil(cmd.Context(), f.wait, func() (bool, error) {
		var err error
		if dead {
			page, err = c.DeadLetters(cmd.Context(), q)
		} else {
			page, err = c.Runs(cmd.Context(), q)
		}
		if err != nil {
			return false, err
		}
		return !slices.ContainsFunc(page.Runs, func(r sdk.Run) bool { return !finished(r) }), nil
	})
	var unfinished error // said after the list
	if errors.Is(err, errStillRunning) {
		unfinished = fmt.Errorf("runs still pending or running after --wait %s", f.wait)
	} else if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if a.json() {
		for _, r := range page.Runs {
			if err := writeJSONLine(out, r); err != nil {
				return err
			}
		}
		return unfinished
	}
	if len(page.Runs) == 0 {
		if dead {
			fmt.Fprintln(cmd.ErrOrStderr(), "No dead letters.")
		} else {
			fmt.Fprintln(cmd.ErrOrStderr(), "No runs.")
		}
		return unfinished
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	if dead {
		fmt.Fprintln(tw, "ID\tFLOW\tTRIGGER POSITION\tFAILED STEP\tERROR\tFAILED")
		for _, r := range page.Runs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Flow, r.Trigger.Position, truncate(r.FailedStep, 24),
				truncate(r.Error, 60), formatTime(r.FinishedAt))
		}
	} else {
		totals := stepTotals(cmd.Context(), c, page.Runs)
		fmt.Fprintln(tw, "ID\tFLOW\tSTATUS\tTRIGGER POSITION\tSTEPS\tCREATED")
		for _, r := range page.Runs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Flow, r.Status, r.Trigger.Position,
				stepsDone(r, totals), formatTime(r.CreatedAt))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "More may follow: add --cursor %s.\n", page.Next)
	}
	return unfinished
}

// flowVersion names one version of a flow.
type flowVersion struct {
	name    string
	version int64
}

// stepTotals counts the steps of the flows the runs belong to, in the
// version the runs started with, where the server still has it (its
// current one): a run lists only the steps it started.
func stepTotals(ctx context.Context, c *sdk.Client, runs []sdk.Run) map[flowVersion]int {
	totals := map[flowVersion]int{}
	asked := map[string]bool{}
	for _, r := range runs {
		if asked[r.Flow] {
			continue
		}
		asked[r.Flow] = true
		f, err := c.Flow(ctx, r.Flow)
		if err != nil {
			continue // deleted since: the runs show what they started
		}
		var def struct {
			Steps []json.RawMessage `json:"steps"`
		}
		if json.Unmarshal(f.Definition, &def) == nil {
			totals[flowVersion{f.Name, f.Version}] = len(def.Steps)
		}
	}
	return totals
}

// stepsDone shows the steps succeeded out of the flow's steps ("1/2"), or
// out of those started ("1/1+") when the flow's version is gone.
func stepsDone(r sdk.Run, totals map[flowVersion]int) string {
	done := 0
	for _, s := range r.Steps {
		if s.Status == sdk.StepSucceeded {
			done++
		}
	}
	if total, ok := totals[flowVersion{r.Flow, r.FlowVersion}]; ok {
		return fmt.Sprintf("%d/%d", done, total)
	}
	if r.Status == sdk.RunCompleted {
		return fmt.Sprintf("%d/%d", done, len(r.Steps))
	}
	return fmt.Sprintf("%d/%d+", done, len(r.Steps))
}

// writeRun shows one run: a header, its steps, and each step's attempts.
func (a *app) writeRun(w io.Writer, r *sdk.Run) error {
	if a.json() {
		return writeJSON(w, r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	row("ID", r.ID)
	row("FLOW", fmt.Sprintf("%s (version %d)", r.Flow, r.FlowVersion))
	row("STATUS", r.Status)
	trigger := fmt.Sprintf("position %d: %s from %s", r.Trigger.Position, r.Trigger.Type, r.Trigger.Source)
	if r.Trigger.Subject != "" {
		trigger += ", subject " + r.Trigger.Subject
	}
	row("TRIGGER", trigger+", id "+r.Trigger.ID)
	row("CORRELATION", r.CorrelationID)
	row("CREATED", when(r.CreatedAt))
	row("STARTED", when(r.StartedAt))
	row("FINISHED", when(r.FinishedAt))
	if r.Redrives > 0 {
		row("REDRIVES", strconv.Itoa(r.Redrives))
	}
	row("FAILED STEP", r.FailedStep)
	row("ERROR", r.Error)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Steps) == 0 {
		fmt.Fprintln(w, "\nNo step started yet.")
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tATTEMPTS\tERROR")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.ID, s.Status, s.Attempts, truncate(s.Error, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Steps {
		if len(s.History) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nATTEMPTS OF %s\n", s.ID)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ATTEMPT\tSTART\tDURATION\tSTATUS\tERROR\tNEXT")
		for _, at := range s.History {
			status := "-"
			if at.Status != 0 {
				status = strconv.Itoa(at.Status)
			}
			next := "-"
			switch {
			case at.Final:
				next = "final"
			case at.Delay > 0:
				next = "retry in " + shortDuration(at.Delay)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", at.Attempt, formatTime(at.Start), shortDuration(at.Duration),
				status, truncate(at.Error, 60), next)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) deadLettersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deadletters",
		Aliases: []string{"dlq"},
		Short:   "List, show, redrive and discard dead letters (runs whose step failed for good)",
		RunE:    commandGroup,
	}
	var f runFlags
	list := &cobra.Command{
		Use:     "list [--flow F] [--limit N]",
		Short:   "List dead letters",
		Example: `  ensue deadletters list --flow notify-big-orders`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listRuns(cmd, &f, true)
		},
	}
	f.register(list, false)
	show := &cobra.Command{
		Use:     "show ID",
		Short:   "Show a dead letter: why it failed, and each attempt",
		Example: `  ensue deadletters show notify-big-orders-17`,
		Args:    exactArgs(1, "ID, a dead-lettered run's id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			run, err := c.DeadLetter(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.writeRun(cmd.OutOrStdout(), run)
		},
	}
	cmd.AddCommand(list, show, a.redriveCommand(), a.discardCommand())
	return cmd
}

// redriveErr says some dead letters were not redriven, already listed.
type redriveErr struct{ failed, total int }

func (e redriveErr) Error() string {
	return fmt.Sprintf("%d of %d dead letters were not redriven (listed above)", e.failed, e.total)
}

func (a *app) redriveCommand() *cobra.Command {
	var flowName string
	cmd := &cobra.Command{
		Use:   "redrive ID... | redrive --flow F",
		Short: "Run dead letters again from the step that failed, with fresh attempts",
		Example: `  ensue deadletters redrive notify-big-orders-17
  ensue deadletters redrive --flow notify-big-orders`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case (len(args) == 0) == (flowName == ""):
				return usagef(cmd.CommandPath(), "name the dead letters: their IDs, or --flow F for every one of a flow")
			case len(args) == 1:
				run, err := c.Redrive(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if a.json() {
					return writeJSONLine(out, run)
				}
				fmt.Fprintf(out, "%s redriven (%s)\n", run.ID, run.Status)
				return nil
			}
			res, err := c.RedriveMany(cmd.Context(), sdk.RedriveRequest{Runs: args, Flow: flowName})
			if err != nil {
				return err
			}
			if a.json() {
				if err := writeJSONLine(out, res); err != nil {
					return err
				}
			} else {
				for _, id := range res.Redriven {
					fmt.Fprintf(out, "%s redriven\n", id)
				}
				for _, f := range res.Failed {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", f.Run, f.Error)
				}
				if len(res.Redriven)+len(res.Failed) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "No dead letters.")
				}
			}
			if len(res.Failed) > 0 {
				return redriveErr{failed: len(res.Failed), total: len(res.Failed) + len(res.Redriven)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&flowName, "flow", "", "redrive every dead letter of this flow")
	return cmd
}

func (a *app) discardCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "discard ID",
		Short:   "Close a dead letter for good",
		Example: `  ensue deadletters discard notify-big-orders-17`,
		Args:    exactArgs(1, "ID, a dead-lettered run's id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			run, err := c.Discard(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(cmd.OutOrStdout(), run)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s discarded\n", run.ID)
			return nil
		},
	}
}

// commandGroup runs a command that only groups others: it shows its help,
// or refuses a subcommand it does not have.
func commandGroup(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef(cmd.CommandPath(), "unknown command %q for %s", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}

// shortDuration rounds a duration for a table: to the millisecond, or to
// the microsecond below one.
func shortDuration(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// unescapeHTML undoes the \u003c, \u003e and \u0026 escapes of JSON
// encoded by Go, which make expressions such as "total > 500" hard to read.
func unescapeHTML(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch string(b[i+2 : i+6]) {
			case "003c":
				out, i = append(out, '<'), i+5
				continue
			case "003e":
				out, i = append(out, '>'), i+5
				continue
			case "0026":
				out, i = append(out, '&'), i+5
				continue
			}
		}
		out, i = append(out, b[i], b[i+1]), i+1 // an escape: keep both bytes
	}
	return out
}

// errStillRunning: what waitUntil waited for did not happen in time.
var errStillRunning = errors.New("still running")

// waitUntil calls check until it reports done or fails, every 100ms for
// up to wait (once when wait is 0); errStillRunning when time runs out.
func waitUntil(ctx context.Context, wait time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := check()
		if err != nil || done || wait <= 0 {
			return err
		}
		if time.Now().After(deadline) {
			return errStillRunning
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// finished reports a run nothing more happens to unless it is redriven.
func finished(r sdk.Run) bool {
	return r.Status == sdk.RunCompleted || r.Status == sdk.RunDeadLettered || r.Status == sdk.RunDiscarded
}
