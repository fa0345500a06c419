package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"
)

// The mount process logs one line per state change (serving, degraded, resync, stopping), never one
// per write, with log/slog: text for a terminal or journald, JSON for log shippers.

const (
	logFormatFlag = "log-format"
	logLevelFlag  = "log-level"
)

// loggingFlags are accepted before the command (mirrorctl --log-format json mount ...) and by the
// commands that log (mount ... --log-format json), and from the environment.
func loggingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: logFormatFlag, Value: "text", EnvVars: []string{"MIRRORCTL_LOG_FORMAT"},
			Usage: "log lines as `FORMAT`: text (key=value) or json (one object a line)"},
		&cli.StringFlag{Name: logLevelFlag, Value: "info", EnvVars: []string{"MIRRORCTL_LOG_LEVEL"},
			Usage: "log `LEVEL` and above: debug, info, warn or error"},
	}
}

// logSetting is the value of a logging flag given on the command or, failing that, before it.
func logSetting(c *cli.Context, name, def string) string {
	for _, cc := range c.Lineage() {
		if cc.Command != nil && cc.Command.Name != "" && !hasFlag(cc.Command.Flags, name) {
			continue
		}
		if cc.IsSet(name) {
			return cc.String(name)
		}
	}
	return def
}

func hasFlag(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// newLogger builds the logger the flags ask for; a bad value is a usage error.
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	format := logSetting(c, logFormatFlag, "text")
	levelName := logSetting(c, logLevelFlag, "info")
	return buildLogger(w, format, levelName)
}

func buildLogger(w io.Writer, format, levelName string) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(levelName) {
	case "debug":
		level = slog.LevelDebug
	case "info", "":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, usageError("--log-level %q: use debug, info, warn or error", levelName)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usageError("--log-format %q: use text or json", format)
	}
}

// checkLogFlags refuses a bad logging flag given before the command, before anything runs.
func checkLogFlags(c *cli.Context) error {
	_, err := newLogger(c, io.Discard)
	return err
}
