// Package cli holds what the powbroker and powminer commands share: exit codes and the
// rule that misuse prints one line and exits 2.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, the same for the same outcome in every command.
const (
	ExitOK          = 0   // done: for a worker, the order is paid or mined
	ExitFailure     = 1   // failed: unreachable broker, refused token, any other error
	ExitUsage       = 2   // misuse of the command line
	ExitUnpaid      = 3   // the order ended unpaid: canceled, expired or failed
	ExitInterrupted = 130 // SIGINT or SIGTERM (128 + SIGINT, as shells report it)
)

// ExitError carries an exit code other than ExitFailure.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Unpaid is the error of a worker whose order ended without being paid.
func Unpaid(format string, args ...any) error {
	return &ExitError{Code: ExitUnpaid, Err: fmt.Errorf(format, args...)}
}

// Interrupted is the error of a command stopped by a signal.
func Interrupted(format string, args ...any) error {
	return &ExitError{Code: ExitInterrupted, Err: fmt.Errorf(format, args...)}
}

// UsageError marks a misuse of the command line (bad flag, missing argument, bad value).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Run executes root with signal-aware cancellation and returns the process exit code:
// 0 on success, 2 with one line on stderr for misuse, 1 with one line for any other failure.
func Run(root *cobra.Command, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	for _, c := range root.Commands() {
		setFlagErrors(c)
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		var ee *ExitError
		if !errors.As(err, &ee) {
			err = errors.New("interrupted")
		}
	}
	msg := oneLine(err.Error())
	fmt.Fprintf(stderr, "%s: %s\n", root.Name(), msg)
	var ue *UsageError
	var ee *ExitError
	switch {
	case errors.As(err, &ue) || isCobraUsage(err):
		return ExitUsage
	case errors.As(err, &ee):
		return ee.Code
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitFailure
}

// oneLine folds a message into one line; cobra's "Did you mean this?" block becomes
// a parenthesis.
func oneLine(msg string) string {
	if head, tail, ok := strings.Cut(msg, "\n\nDid you mean this?\n"); ok {
		msg = head + " (did you mean " + strings.Join(strings.Fields(tail), " or ") + "?)"
	}
	msg = strings.TrimSuffix(strings.TrimSpace(msg), "\n")
	msg = strings.ReplaceAll(msg, "\n", "; ")
	return msg
}

func setFlagErrors(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	for _, sub := range c.Commands() {
		setFlagErrors(sub)
	}
}

// isCobraUsage recognises cobra's own usage errors, which it does not type.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "received ", "required flag", "unknown flag", "unknown shorthand", "invalid argument", "flag needs an argument", "if any flags in the group"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
