// Command ensue runs the Ensue server (ensue serve) and talks to one (emit,
// events, stream, get, lookup, correlation, tail).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ensue-dev/ensue/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
