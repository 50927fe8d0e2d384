// Package cli holds what every command-line tool of the project shares:
// a cobra root with the project version, error and exit-code handling, and
// flags whose defaults come from the environment (shown in --help), so
// esxi-image, esxi-writer and esxi-firstboot behave alike.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/internal/version"
)

// NewRoot returns a root command that prints the shared version for
// --version and leaves error printing to Execute, so an error is printed
// once, without a usage dump that would bury it.
func NewRoot(use, short, long string) *cobra.Command {
	root := &cobra.Command{
		Use:           use,
		Short:         short,
		Long:          long,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate(use + " version {{.Version}}\n")
	// Flags may follow arguments (cobra's default); keep it explicit
	// because operators paste commands with flags last.
	root.Flags().SortFlags = false
	return root
}

// ExitError carries a specific exit status, for tools whose callers act
// on the code (a %firstboot wrapper, a Tinkerbell action, a linter in CI).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Run executes root with args under a context cancelled by SIGINT/SIGTERM
// and returns the process exit code, writing any error as one line to
// stderr. main calls os.Exit(cli.Run(...)).
func Run(root *cobra.Command, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", root.Name(), ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), err)
	return 1
}

// Env returns the value of the environment variable name, or def when it
// is unset or empty. Flags use it for their default so that the variable
// shows in --help as the default's source.
func Env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// EnvUsage appends the environment variable to a flag's usage text.
func EnvUsage(usage, env string) string {
	return fmt.Sprintf("%s (env %s)", usage, env)
}
