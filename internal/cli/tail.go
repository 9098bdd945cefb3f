package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ensue-dev/ensue/sdk"
)

func (a *app) tailCommand() *cobra.Command {
	var f filterFlags
	cmd := &cobra.Command{
		Use:   "tail [flags]",
		Short: "Print events as they are recorded, until Ctrl-C",
		Long: `Print records as they are recorded, one line each, until interrupted.
Without --after, only events recorded from now on are shown; with --after N,
the history after position N comes first. A dropped connection is resumed
where it stopped, with no gap and no repeat.`,
		Example: `  ensue tail
  ensue tail --type 'payment.*' -o json | jq .event.data
  ensue tail --after 0 --subject order-123`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			c, err := a.client(cmd, sdk.WithReconnectPolicy(sdk.ReconnectPolicy{
				OnReconnect: func(err error, attempt int, wait time.Duration) {
					fmt.Fprintf(stderr, "tail: %s; reconnecting in %s (attempt %d)\n", reconnectReason(err), wait.Round(time.Millisecond), attempt)
				},
			}))
			if err != nil {
				return err
			}
			q, err := f.query(cmd)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("after") {
				q.After = sdk.EndOfLog
			}
			out := cmd.OutOrStdout()
			if !a.json() {
				fmt.Fprintln(out, tailLine("POSITION", "RECORDED", "STREAM", "VERSION", "TYPE", "SOURCE", "ID"))
			}
			for rec, err := range c.Subscribe(cmd.Context(), q) {
				if err != nil {
					return err
				}
				if a.json() {
					err = writeJSONLine(out, rec)
				} else {
					_, err = fmt.Fprintln(out, tailLine(recordCells(rec)...))
				}
				if err != nil {
					return err
				}
			}
			// The subscription ends without an error only when the context
			// is done: Ctrl-C is how tail is meant to stop.
			return nil
		},
	}
	f.register(cmd, "start after this position, history first (default: only new events)")
	return cmd
}

// tailLine lays out one line in fixed-width columns: tail cannot align a
// table it has not seen the end of.
func tailLine(cols ...string) string {
	return fmt.Sprintf("%-9s %-20s  %-*s  %-7s  %-*s  %-*s  %s",
		cols[0], cols[1], maxStreamWidth, cols[2], cols[3], maxTypeWidth, cols[4], maxSourceWidth, cols[5], cols[6])
}

// reconnectReason says briefly why a subscription is reconnecting.
func reconnectReason(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the connection dropped"
	}
	if transportError(err) {
		return "cannot reach the server (" + transportCause(err) + ")"
	}
	if p, ok := errors.AsType[*sdk.Problem](err); ok {
		return "the server answered " + p.Error()
	}
	return strings.TrimPrefix(err.Error(), "sdk: ")
}
