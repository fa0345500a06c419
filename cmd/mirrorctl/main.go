package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

// version is set at build time (make build: -ldflags "-X main.version=..."); a plain go build falls
// back to the module version and VCS revision that Go records in the binary.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return "devel-" + rev + dirty
	}
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
}

// Exit statuses, the same for every command (documented in --help, the man page and the README).
const (
	exitOK       = 0 // done; for status and verify: healthy, matching
	exitFailure  = 1 // the operation failed, verify found a difference, status: not healthy
	exitUsage    = 2 // bad command line: nothing was changed
	exitDegraded = 3 // status: the mirror is degraded (it misses changes)
)

const exitCodesHelp = `EXIT STATUS:
   0  success (status: a mount serves the mirror, or it is in sync; verify: primary and mirror match)
   1  the operation failed, verify found differences, or status: not healthy (a dead mount, an
      interrupted sync, never synced, ...); a mirror or primary in use by another mirrorctl process
   2  usage error: a bad flag or argument, or a primary, mirror or mount point that cannot be used
      (missing, not a directory, one inside the other, a mirror of another primary); nothing changed
   3  status: the mirror is DEGRADED (it misses changes)`

func newApp() *cli.App {
	app := &cli.App{
		Name:    "mirrorctl",
		Version: buildVersion(),
		Usage:   "keep a hot-failover mirror of a database environment on a second disk",
		Description: "mirrorctl serves a database environment through a FUSE mount and mirrors every change to a\n" +
			"directory on a second disk, in order and durably, so the mirror can be promoted in seconds.\n\n" +
			examples(
				"mirrorctl mount --primary /disk1/env --mirror /disk2/env /srv/env", "serve /srv/env, mirrored to /disk2",
				"mirrorctl status /srv/env", "where the mount stands (exit 3 when degraded)",
				"mirrorctl unmount /srv/env && mirrorctl promote --mirror /disk2/env --primary /disk1/env", "fail over",
				"mirrorctl drill", "rehearse a failover on scratch storage",
			) + "\n\n" + exitCodesHelp,
		Flags:    loggingFlags(),
		Before:   checkLogFlags,
		Commands: commands(),
		// A word that is no command: a usage error, not a help page with status 3.
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("%q is not a mirrorctl command: see mirrorctl --help", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		OnUsageError:         onUsageError,
		EnableBashCompletion: true,
		// Errors are printed once, by main, on one line.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = onUsageError
		}
	}
	return app
}

func commands() []*cli.Command {
	return []*cli.Command{
		mountCommand(),
		unmountCommand(),
		statusCommand(),
		syncCommand(),
		verifyCommand(),
		resyncCommand(),
		attachMirrorCommand(),
		promoteCommand(),
		archiveCommand(),
		restoreCommand(),
		drillCommand(),
		completionCommand(),
		manCommand(),
		workloadCommand(),
	}
}

// onUsageError turns urfave/cli's flag errors (unknown flag, bad value) into exit status 2.
func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "mirrorctl"
	if c.Command != nil && c.Command.Name != "" {
		name += " " + c.Command.Name
	}
	return usageError("%v: see %s --help", err, name)
}

// examples formats pairs of (command line, what it does) as an EXAMPLES section for --help.
func examples(pairs ...string) string {
	s := "EXAMPLES:"
	for i := 0; i+1 < len(pairs); i += 2 {
		s += "\n   # " + pairs[i+1] + "\n   " + pairs[i]
	}
	return s
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
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// exitCode is the process exit status for an error returned by a command.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// A primary, mirror or mount point that cannot be used is bad input: nothing was changed.
	if errors.Is(err, mirror.ErrBadPair) {
		return exitUsage
	}
	// urfave/cli's own exits (a help topic that does not exist) are usage errors.
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return exitUsage
	}
	return exitFailure
}

func main() {
	err := newApp().Run(os.Args)
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "mirrorctl: %v\n", err)
	os.Exit(exitCode(err))
}

// writeJSON prints v as indented JSON, the form of every --json report.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
