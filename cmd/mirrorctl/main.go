// Command mirrorctl keeps a hot-failover mirror of a database environment on a second disk and
// promotes it at failover. See the README for the operator's guide.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func newApp() *cli.App {
	return &cli.App{
		Name:  "mirrorctl",
		Usage: "keep a hot-failover mirror of a database environment on a second disk",
		Description: "mirrorctl serves a database environment through a FUSE mount and mirrors every change to a\n" +
			"directory on a second disk, in order and durably, so the mirror can be promoted in seconds.",
		Commands: []*cli.Command{
			mountCommand(),
			unmountCommand(),
			statusCommand(),
			syncCommand(),
			verifyCommand(),
			resyncCommand(),
			promoteCommand(),
			drillCommand(),
			workloadCommand(),
		},
		EnableBashCompletion: true,
		// Errors are printed once, by main, on one line.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is bad input on the command line: exit status 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	err := newApp().Run(os.Args)
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "mirrorctl: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}
