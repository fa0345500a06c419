package main

// mount --archive: the background pusher of a mount, started once the mount serves and stopped
// before the session closes the mirror; a last push after the session stopped sends the final bytes.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/urfave/cli/v2"
)

// finalPushTimeout bounds the push at unmount: a server that is down must not hold the unmount.
const finalPushTimeout = 30 * time.Second

// archivePush is a mount's pusher; a nil *archivePush (no --archive) does nothing.
type archivePush struct {
	p      *archive.Pusher
	logger *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// newArchivePush checks --archive and connects (credentials and bucket checked), writing nothing.
func newArchivePush(c *cli.Context, ps pairSetup, logger *slog.Logger) (*archivePush, error) {
	u := c.String("archive")
	if u == "" {
		return nil, nil
	}
	if iv := c.Duration("archive-interval"); iv <= 0 {
		return nil, usageError("--archive-interval %s is not a duration above zero: write it like 1s or 500ms", iv)
	}
	loc, err := archive.ParseLocation(u)
	if err != nil {
		return nil, usageError("--archive: %v", err)
	}
	o, err := pushOptions(c)
	if err != nil {
		return nil, err
	}
	eng := ps.eng
	if err := archivable(eng, o); err != nil {
		return nil, err
	}
	r, err := retention(c)
	if err != nil {
		return nil, err
	}
	s, err := archive.Open(c.Context, loc, archive.Config{Endpoint: c.String("s3-endpoint")})
	if err != nil {
		return nil, fmt.Errorf("--archive: %w", err)
	}
	return &archivePush{logger: logger, p: &archive.Pusher{Store: s, Mirror: ps.pair.Mirror, Engine: eng,
		Interval: c.Duration("archive-interval"), Options: o, Retention: r, Logger: logger}}, nil
}

// start runs the pusher in the background until stop (or ctx's end).
func (a *archivePush) start(ctx context.Context) {
	if a == nil {
		return
	}
	ctx, a.cancel = context.WithCancel(ctx)
	a.done = make(chan struct{})
	a.logger.Info("archiving", "archive", a.p.Store.Location().String(), "interval", a.p.Interval)
	go func() {
		defer close(a.done)
		a.p.Run(ctx)
	}()
}

// stop ends the background pushes and waits for the one in flight.
func (a *archivePush) stop() {
	if a == nil || a.cancel == nil {
		return
	}
	a.cancel()
	<-a.done
}

// final pushes once more, after the session stopped, so the archive holds the mirror's last bytes.
func (a *archivePush) final(out io.Writer) {
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), finalPushTimeout)
	defer cancel()
	if err := a.p.Final(ctx); err != nil {
		fmt.Fprintf(out, "archive %s: the last push failed (%v): run mirrorctl archive push --mirror %s %s\n", a.p.Store.Location(), err, a.p.Mirror, a.p.Store.Location())
		return
	}
	st := a.p.Status()
	fmt.Fprintf(out, "archive %s holds the mirror (generation %d)\n", st.Location, st.Generation)
}

// status is the pusher's status for mirrorctl status; nil without --archive.
func (a *archivePush) status() *archive.PusherStatus {
	if a == nil {
		return nil
	}
	st := a.p.Status()
	return &st
}
