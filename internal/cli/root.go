// Package cli is the ensue command line: `ensue serve` (serve.go) and the
// client commands, which talk to a server over HTTP through the sdk package
// only. It owns flags, output formats (table, JSON Lines) and the mapping
// of errors to exit codes; it may import sdk and the server wiring for
// serve, nothing else of Ensue.
package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/sdk"
)

// Defaults of the global flags.
const (
	defaultServer    = "http://127.0.0.1:7600"
	defaultNamespace = "default"
)

// app holds what every client command shares: the global flags and the
// process's streams.
type app struct {
	server    string
	namespace string
	output    string

	// stderrTTY says stderr is a terminal, where progress bars are drawn.
	stderrTTY bool
}

// NewRoot builds the `ensue` command with every subcommand. Global flags
// take their defaults from ENSUE_SERVER and ENSUE_NAMESPACE.
func NewRoot() *cobra.Command {
	root, _ := newRoot(os.LookupEnv)
	return root
}

func newRoot(lookupEnv func(string) (string, bool)) (*cobra.Command, *app) {
	a := &app{}
	root := &cobra.Command{
		Use:   "ensue",
		Short: "Ensue: events in, consequences out",
		Long: `Ensue keeps every event in a durable, ordered log and reacts to them.

Run a server with 'ensue serve'; the other commands talk to one over HTTP
(--server, or ENSUE_SERVER) in one namespace (--namespace, or ENSUE_NAMESPACE).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", envDefault(lookupEnv, "ENSUE_SERVER", defaultServer), "base URL of the Ensue server [ENSUE_SERVER]")
	pf.StringVarP(&a.namespace, "namespace", "n", envDefault(lookupEnv, "ENSUE_NAMESPACE", defaultNamespace), "namespace to act in [ENSUE_NAMESPACE]")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json (JSON Lines for lists)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{err: err, cmd: cmd.CommandPath()}
	})
	root.AddCommand(
		newServeCommand(),
		a.emitCommand(),
		a.eventsCommand(),
		a.streamCommand(),
		a.getCommand(),
		a.lookupCommand(),
		a.correlationCommand(),
		a.tailCommand(),
		newBenchCommand(),
	)
	root.AddCommand(a.applyCommand(), a.flowsCommand(), a.runsCommand(), a.deadLettersCommand())
	root.AddCommand(a.schemasCommand())
	root.AddCommand(a.projectionsCommand())
	return root, a
}

func envDefault(lookupEnv func(string) (string, bool), name, def string) string {
	if v, ok := lookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// client checks the global flags and returns a client for them.
func (a *app) client(cmd *cobra.Command, opts ...sdk.Option) (*sdk.Client, error) {
	switch a.output {
	case "table", "json":
	default:
		return nil, usageError{err: fmt.Errorf("--output %q: use table or json", a.output), cmd: cmd.CommandPath()}
	}
	u, err := url.Parse(a.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{err: fmt.Errorf("--server %q is not a URL like %s", a.server, defaultServer), cmd: cmd.CommandPath()}
	}
	return sdk.New(a.server, append([]sdk.Option{sdk.WithNamespace(a.namespace)}, opts...)...), nil
}

func (a *app) json() bool { return a.output == "json" }

// Execute runs the ensue command line with args and returns the process's
// exit code: 0 on success, 1 for a usage or input error or a request the
// server refused (4xx), 2 when the server is unreachable or failed (5xx),
// 130 when interrupted. Errors are printed to stderr.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return execute(ctx, args, os.Stdin, stdout, stderr, os.LookupEnv, isTerminal(stderr))
}

func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer,
	lookupEnv func(string) (string, bool), stderrTTY bool) int {
	root, a := newRoot(lookupEnv)
	a.stderrTTY = stderrTTY
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if cmd != nil && cmd.Name() == "serve" {
		// The server's own errors are not a client's: no "cannot reach".
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitInput
	}
	printError(stderr, err, a.server)
	return exitCode(err)
}
