package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/ensue-dev/ensue/sdk"
)

// Exit codes.
const (
	exitOK          = 0
	exitInput       = 1 // usage, input, or a request the server refused (4xx)
	exitUnavailable = 2 // server unreachable, or it failed (5xx)
	exitInterrupted = 130
)

// usageError is a command line the command cannot run: a bad flag, a
// missing argument.
type usageError struct {
	err error
	cmd string // the command's path, for the help hint
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(cmd, format string, args ...any) error {
	return usageError{err: fmt.Errorf(format, args...), cmd: cmd}
}

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	if p, ok := errors.AsType[*sdk.Problem](err); ok {
		if p.Status >= 500 {
			return exitUnavailable
		}
		return exitInput
	}
	if transportError(err) {
		return exitUnavailable
	}
	return exitInput
}

// transportError reports an error from reaching the server rather than from
// its answer: connection refused, DNS, timeout, a dropped connection.
func transportError(err error) bool {
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*url.Error](err); ok {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// printError writes what went wrong, where, and what to do about it.
func printError(w io.Writer, err error, server string) {
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "error: interrupted")
		return
	}
	if ue, ok := errors.AsType[usageError](err); ok {
		fmt.Fprintf(w, "error: %v\n", ue.err)
		fmt.Fprintf(w, "Run '%s --help' for usage.\n", ue.cmd)
		return
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") {
		fmt.Fprintf(w, "error: %v\nRun 'ensue --help' for usage.\n", err)
		return
	}
	if _, ok := errors.AsType[*sdk.Problem](err); ok {
		fmt.Fprintf(w, "error: %v\n", err)
		writeProblemDetails(w, err, "  ")
		return
	}
	if transportError(err) {
		fmt.Fprintf(w, "error: cannot reach the Ensue server at %s: %s\n", server, transportCause(err))
		fmt.Fprintln(w, "  Is it running? Start one with 'ensue serve', or point --server (ENSUE_SERVER) at one.")
		return
	}
	fmt.Fprintf(w, "error: %v\n", err)
}

// writeProblemDetails lists a problem's field errors, one per line.
func writeProblemDetails(w io.Writer, err error, indent string) {
	p, ok := errors.AsType[*sdk.Problem](err)
	if !ok {
		return
	}
	for _, fe := range p.Errors {
		if p.Detail == fe.Message || p.Detail == fe.Pointer+": "+fe.Message {
			continue // the detail said it already
		}
		if fe.Pointer != "" {
			fmt.Fprintf(w, "%s%s: %s\n", indent, fe.Pointer, fe.Message)
		} else {
			fmt.Fprintf(w, "%s%s\n", indent, fe.Message)
		}
	}
}

// transportCause gives the innermost useful words of a transport error,
// without repeating the method and URL.
func transportCause(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Err != nil {
		return op.Err.Error()
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
