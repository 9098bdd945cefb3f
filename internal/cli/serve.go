package cli

import "github.com/spf13/cobra"

// newServeCommand builds `ensue serve`. It is being written alongside the
// server package; until then it is a placeholder.
func newServeCommand() *cobra.Command {
	return &cobra.Command{Use: "serve", Short: "Run the Ensue server"}
}
