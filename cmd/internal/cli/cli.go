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

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

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
	msg := oneLine(err.Error())
	fmt.Fprintf(stderr, "%s: %s\n", root.Name(), msg)
	var ue *UsageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return ExitUsage
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
