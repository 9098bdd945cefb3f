package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/sdk"
)

var (
	schemaModes        = []string{sdk.SchemaModeOff, sdk.SchemaModeWarn, sdk.SchemaModeEnforce}
	compatibilityModes = []string{sdk.CompatibilityBackward, sdk.CompatibilityForward, sdk.CompatibilityFull, sdk.CompatibilityNone}
)

const schemaTypeArg = "TYPE, an event type such as order.placed"

func (a *app) schemasCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schemas",
		Short: "Register, check, infer and manage the JSON Schemas of event types",
		Long: `Each event type of a namespace may have a JSON Schema for its data, in
versions. The namespace's schema mode says what happens to an event whose
data does not match the latest version: off (nothing), warn (stored, with
the violations in its ensueviolations extension; the default) or enforce
(refused). A type's compatibility mode (backward by default) says what a new
version must keep to be registered without --force.`,
		RunE: commandGroup,
	}
	cmd.AddCommand(a.schemasPushCommand(), a.schemasListCommand(), a.schemasShowCommand(), a.schemasVersionsCommand(),
		a.schemasCheckCommand(), a.schemasInferCommand(), a.schemasLintCommand(), a.schemasModeCommand(),
		a.schemasCompatibilityCommand(), a.schemasDeleteCommand())
	return cmd
}

// readSchemaFile reads a schema file, or standard input for "-".
func readSchemaFile(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, fmt.Errorf("reading standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef(cmd.CommandPath(), "%s: %v", path, errors.Unwrap(err))
	}
	return b, nil
}

// requireType checks --type was given.
func requireType(cmd *cobra.Command, typ string) error {
	if typ == "" {
		return usagef(cmd.CommandPath(), "missing --type TYPE: the event type the schema is for")
	}
	return nil
}

// incompatibleErr says a schema breaks its type's compatibility mode, the
// changes already listed.
type incompatibleErr struct {
	typ, file, mode string
	changes         int
	latest          int
	push            bool
}

func (e incompatibleErr) Error() string {
	mode, keep := "compatibility mode", "the latest version"
	if e.mode != "" {
		mode = e.mode + " compatibility"
	}
	if e.latest > 0 {
		keep = fmt.Sprintf("version %d", e.latest)
	}
	s := fmt.Sprintf("%s breaks the %s of %s in %d place(s) (listed above)", e.file, mode, e.typ, e.changes)
	if !e.push {
		return s
	}
	return s + fmt.Sprintf("; nothing was registered. Keep what %s allows, choose another mode with 'ensue schemas compatibility %s MODE', or register anyway with --force",
		keep, e.typ)
}

// writeSchemaChanges lists breaking changes, one a line, as "pointer: message".
func writeSchemaChanges(w io.Writer, file string, changes []sdk.SchemaChange) {
	for _, ch := range changes {
		where := ch.Pointer
		if where == "" {
			where = "(root)"
		}
		fmt.Fprintf(w, "%s: %s: %s\n", file, where, ch.Message)
	}
}

// fileName is how a schema file is named in messages.
func fileName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

func (a *app) schemasPushCommand() *cobra.Command {
	var typ string
	var force bool
	cmd := &cobra.Command{
		Use:   "push FILE --type TYPE [--force]",
		Short: "Register a JSON Schema file as the next version of an event type's schema",
		Long: `Register the JSON Schema in FILE (- for standard input) as the next version
of the type's schema. A schema equal to a registered version changes
nothing. One that breaks the type's compatibility mode is refused, each
breaking change listed as FILE: pointer: message, unless --force is given.`,
		Example: `  ensue schemas push payment.json --type payment.captured
  ensue schemas infer order.placed > order.json && ensue schemas push order.json --type order.placed`,
		Args: exactArgs(1, "FILE, the JSON Schema (- for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if err := requireType(cmd, typ); err != nil {
				return err
			}
			doc, err := readSchemaFile(cmd, args[0])
			if err != nil {
				return err
			}
			reg, err := c.RegisterSchema(cmd.Context(), typ, doc, force)
			if ie, ok := errors.AsType[*sdk.IncompatibleSchemaError](err); ok {
				writeSchemaChanges(cmd.ErrOrStderr(), fileName(args[0]), ie.Changes)
				e := incompatibleErr{typ: typ, file: fileName(args[0]), changes: len(ie.Changes), push: true}
				// The problem names neither the mode nor the version:
				// ask, to say what to keep.
				if s, serr := c.Schema(cmd.Context(), typ); serr == nil {
					e.mode, e.latest = s.Compatibility, s.Version
				}
				return e
			}
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(cmd.OutOrStdout(), reg)
			}
			if reg.Created {
				fmt.Fprintf(cmd.OutOrStdout(), "%s version %d registered\n", reg.Type, reg.Version)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s unchanged (version %d)\n", reg.Type, reg.Version)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "the event type the schema is for (required)")
	cmd.Flags().BoolVar(&force, "force", false, "register even if the schema breaks the type's compatibility mode")
	return cmd
}

func (a *app) schemasListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the event types that have a schema, by name",
		Example: `  ensue schemas list`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			types, err := c.Schemas(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				for _, t := range types {
					if err := writeJSONLine(out, t); err != nil {
						return err
					}
				}
				return nil
			}
			if len(types) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No schemas. Register one with 'ensue schemas push FILE --type TYPE'.")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tLATEST\tVERSIONS\tCOMPATIBILITY")
			for _, t := range types {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", truncate(t.Type, maxTypeWidth), t.LatestVersion, t.Versions, t.Compatibility)
			}
			return tw.Flush()
		},
	}
}

func (a *app) schemasShowCommand() *cobra.Command {
	var version int
	cmd := &cobra.Command{
		Use:   "show TYPE [--version N]",
		Short: "Show a type's schema: the latest version, or --version N",
		Long: `Show a version of the type's schema: a line naming the version, the type's
compatibility mode and when it was registered, then the schema as the
server keeps it (keys sorted), indented. -o json | jq .schema gives the
schema alone.`,
		Example: `  ensue schemas show payment.captured
  ensue schemas show payment.captured --version 1 -o json | jq .schema > payment.json`,
		Args: exactArgs(1, schemaTypeArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			var s *sdk.Schema
			switch {
			case version < 0:
				return usagef(cmd.CommandPath(), "--version %d: versions count from 1", version)
			case version > 0:
				s, err = c.SchemaVersion(cmd.Context(), args[0], version)
			default:
				s, err = c.Schema(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				return writeJSON(out, s)
			}
			fmt.Fprintf(out, "%s version %d, compatibility %s, registered %s\n", s.Type, s.Version, s.Compatibility, formatTime(s.RegisteredAt))
			_, err = fmt.Fprintf(out, "%s\n", bytes.TrimSpace(prettyJSON(s.Document)))
			return err
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "the version to show (default: the latest)")
	return cmd
}

// prettyJSON indents a JSON document, < > & left readable.
func prettyJSON(doc []byte) []byte {
	var pretty bytes.Buffer
	if json.Indent(&pretty, doc, "", "  ") != nil {
		return doc
	}
	return unescapeHTML(pretty.Bytes())
}

func (a *app) schemasVersionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "versions TYPE",
		Short:   "List the versions of a type's schema, oldest first",
		Example: `  ensue schemas versions payment.captured`,
		Args:    exactArgs(1, schemaTypeArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			versions, err := c.SchemaVersions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				for _, v := range versions {
					if err := writeJSONLine(out, v); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tREGISTERED")
			for _, v := range versions {
				fmt.Fprintf(tw, "%d\t%s\n", v.Version, formatTime(v.RegisteredAt))
			}
			return tw.Flush()
		},
	}
}

func (a *app) schemasCheckCommand() *cobra.Command {
	var typ string
	cmd := &cobra.Command{
		Use:   "check FILE --type TYPE",
		Short: "Say whether a schema could be registered as the type's next version, changing nothing",
		Long: `Check the JSON Schema in FILE (- for standard input) against the type's
latest version and compatibility mode, as push would, without registering
it. Exits 0 when it is compatible; when it is not, lists each breaking change
and exits 1.`,
		Example: `  ensue schemas check payment.json --type payment.captured`,
		Args:    exactArgs(1, "FILE, the JSON Schema (- for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if err := requireType(cmd, typ); err != nil {
				return err
			}
			doc, err := readSchemaFile(cmd, args[0])
			if err != nil {
				return err
			}
			check, err := c.CheckSchema(cmd.Context(), typ, doc)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				if err := writeJSONLine(out, check); err != nil {
					return err
				}
			} else if check.Compatible {
				fmt.Fprintf(out, "compatible (%s): %s would be version %d of %s\n", check.Compatibility, fileName(args[0]), check.WouldBeVersion, check.Type)
			} else {
				writeSchemaChanges(out, fileName(args[0]), check.Changes)
			}
			if !check.Compatible {
				return incompatibleErr{typ: typ, file: fileName(args[0]), mode: check.Compatibility, changes: len(check.Changes)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "the event type the schema is for (required)")
	return cmd
}

func (a *app) schemasInferCommand() *cobra.Command {
	var limit int
	var write string
	cmd := &cobra.Command{
		Use:   "infer TYPE [--limit N] [--write FILE]",
		Short: "Derive a first JSON Schema from the events of a type in the log",
		Long: `Derive a JSON Schema (2020-12) from the data of the type's events, from the
start of the log (at most --limit events), and print it, ready to edit and
push. It says what the events sent, not what they may send: read it before
registering it. Standard error says how many events it came from.`,
		Example: `  ensue schemas infer order.placed > order.json
  ensue schemas infer order.placed --limit 100 --write order.json`,
		Args: exactArgs(1, schemaTypeArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if limit < 0 || limit > 100000 {
				return usagef(cmd.CommandPath(), "--limit %d: use 1 to 100000 events", limit)
			}
			inf, err := c.InferSchema(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			var b []byte
			if a.json() {
				b, err = json.Marshal(map[string]any{"type": args[0], "samples": inf.Samples, "schema": json.RawMessage(bytes.TrimSpace(inf.Document))})
				if err != nil {
					return err
				}
				b = append(b, '\n')
			} else {
				b = append(bytes.TrimSpace(prettyJSON(inf.Document)), '\n')
			}
			target := "FILE"
			if write != "" {
				if err := os.WriteFile(write, b, 0o644); err != nil {
					return fmt.Errorf("--write %s: %w", write, err)
				}
				target = write
			} else if _, err := cmd.OutOrStdout().Write(b); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Inferred from %d event(s) of %s. Review it, then: ensue schemas push %s --type %s\n",
				inf.Samples, args[0], target, args[0])
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "the most events to read, 1-100000 (default 1000)")
	cmd.Flags().StringVar(&write, "write", "", "write the schema to FILE instead of standard output")
	return cmd
}

func (a *app) schemasLintCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "lint [--limit N]",
		Short: "Count, per event type, the events without a subject, a time or a correlationid",
		Long: `Read the log of the namespace from its start (at most --limit events) and
count, per type, the events that lack the attributes consumers need to act
on an event without asking other systems: subject, time and correlationid.
Types whose every event has them all are left out.`,
		Example: `  ensue schemas lint
  ensue schemas lint --limit 1000 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if limit < 0 {
				return usagef(cmd.CommandPath(), "--limit %d: give a number of events from 1", limit)
			}
			lint, err := c.LintEnvelope(cmd.Context(), limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.json() {
				return writeJSON(out, lint)
			}
			if len(lint.Types) == 0 {
				fmt.Fprintf(out, "every event type carries subject, time and correlationid (%d event(s) examined)\n", lint.EventsExamined)
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tEVENTS\tNO-SUBJECT\tNO-TIME\tNO-CORRELATIONID")
			for _, t := range lint.Types {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", truncate(t.Type, maxTypeWidth), t.Events, t.MissingSubject, t.MissingTime, t.MissingCorrelationID)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d event(s) examined.\n", lint.EventsExamined)
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "the most events to read (default 10000)")
	return cmd
}

func (a *app) schemasModeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "mode [off|warn|enforce]",
		Short: "Show or set the namespace's schema mode",
		Long: `Without an argument, show the namespace's schema mode; with one, set it:
off validates nothing; warn stores an event whose data breaks its type's
schema, with the violations in its ensueviolations extension; enforce
refuses it.`,
		Example: `  ensue schemas mode
  ensue schemas mode enforce`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) > 1:
				return usagef(cmd.CommandPath(), "too many arguments: give one mode, off, warn or enforce")
			case len(args) == 1 && !slices.Contains(schemaModes, args[0]):
				return usagef(cmd.CommandPath(), "schema mode %q: use off, warn or enforce", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			var s *sdk.NamespaceSettings
			if len(args) == 1 {
				s, err = c.SetNamespaceSettings(cmd.Context(), sdk.NamespaceSettings{SchemaMode: args[0]})
			} else {
				s, err = c.NamespaceSettings(cmd.Context())
			}
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(cmd.OutOrStdout(), map[string]string{"namespace": a.namespace, "schema_mode": s.SchemaMode})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "namespace %s: schema mode %s\n", a.namespace, s.SchemaMode)
			return nil
		},
	}
}

func (a *app) schemasCompatibilityCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "compatibility TYPE [backward|forward|full|none]",
		Short: "Show or set a type's compatibility mode",
		Long: `Without a mode, show the type's compatibility mode; with one, set it. The
next versions pushed are checked against it: backward (events valid under
the previous version stay valid; the default), forward (events valid under
the new version are valid under the previous one), full (both) or none.`,
		Example: `  ensue schemas compatibility payment.captured
  ensue schemas compatibility payment.captured full`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usagef(cmd.CommandPath(), "missing %s", schemaTypeArg)
			case len(args) > 2:
				return usagef(cmd.CommandPath(), "too many arguments: give a type and at most one mode")
			case len(args) == 2 && !slices.Contains(compatibilityModes, args[1]):
				return usagef(cmd.CommandPath(), "compatibility %q: use backward, forward, full or none", args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			var mode string
			if len(args) == 2 {
				mode, err = c.SetSchemaCompatibility(cmd.Context(), args[0], args[1])
			} else {
				var s *sdk.Schema
				if s, err = c.Schema(cmd.Context(), args[0]); err == nil {
					mode = s.Compatibility
				}
			}
			if err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(cmd.OutOrStdout(), map[string]string{"type": args[0], "compatibility": mode})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: compatibility %s\n", args[0], mode)
			return nil
		},
	}
}

func (a *app) schemasDeleteCommand() *cobra.Command {
	var version int
	cmd := &cobra.Command{
		Use:   "delete TYPE --version N",
		Short: "Delete a version of a type's schema",
		Long: `Delete one version of the type's schema. The latest version validates the
type's events: it can be deleted only while the namespace's schema mode is
off.`,
		Example: `  ensue schemas delete payment.captured --version 1`,
		Args:    exactArgs(1, schemaTypeArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if version < 1 {
				return usagef(cmd.CommandPath(), "missing --version N: the version to delete, from 1")
			}
			if err := c.DeleteSchemaVersion(cmd.Context(), args[0], version); err != nil {
				return err
			}
			if a.json() {
				return writeJSONLine(cmd.OutOrStdout(), map[string]any{"type": args[0], "version": version, "deleted": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s version %d deleted\n", args[0], version)
			return nil
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "the version to delete (required)")
	return cmd
}
