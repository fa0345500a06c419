package main

import (
	"context"
	"time"

	"github.com/mirrorctl/mirrorctl/control"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/mirrorctl/mirrorctl/progress"
	"github.com/urfave/cli/v2"
)

// Long operations (the initial sync of mount and sync, resync, promote, drill) show their progress
// on stderr, so that stdout stays parseable: a bar on a terminal, a line every 5 s elsewhere.

var noProgressFlag = &cli.BoolFlag{
	Name:    "no-progress",
	EnvVars: []string{"MIRRORCTL_NO_PROGRESS"},
	Usage:   "show no progress of long operations on stderr (bars on a terminal, a line every 5 s otherwise)",
}

func progressReporter(c *cli.Context) *progress.Reporter {
	return progress.New(c.App.ErrWriter, progress.Options{Off: c.Bool("no-progress")})
}

// showResyncs shows every resync that poll reports as active, until ctx ends: the mount process's
// view of its own resyncs (automatic or asked for), and mirrorctl resync's view of the one it asked
// for, over the control socket.
func showResyncs(ctx context.Context, rep *progress.Reporter, poll func() (mirror.ResyncAttempt, bool)) {
	var task *progress.Task
	defer func() { task.Done() }()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		a, ok := poll()
		switch {
		case ok && a.Active && a.Progress != nil:
			if task == nil {
				task = rep.Start("resync of the mirror", 0, progress.Bytes)
			}
			task.Update(a.Progress.BytesExamined, a.Progress.BytesTotal)
		case ok && task != nil:
			task.Done()
			task = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// showRemoteResync shows the progress of the resync that the mount process serving mp runs, by
// polling its status, until the returned function is called.
func showRemoteResync(c *cli.Context, mp string) (stop func()) {
	ctx, cancel := context.WithCancel(c.Context)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		showResyncs(ctx, progressReporter(c), func() (mirror.ResyncAttempt, bool) {
			var st statusReport
			if err := control.QueryStatus(mp, &st); err != nil || st.Resync == nil {
				return mirror.ResyncAttempt{}, false
			}
			return *st.Resync, true
		})
	}()
	return func() { cancel(); <-ended }
}
