package main

// The mount's watch for writes made to the primary directly (package foreign): started before the
// mirror is brought up to date, so that no write falls between the start's comparison and the watch,
// and held until the session exists; every change is then handed to the mirror, which marks it for
// resync. Where fanotify cannot watch, the mount says so once and serves on: such writes are found by
// the comparison at the next start, as before.

import (
	"log/slog"
	"sync"

	"github.com/mirrorctl/mirrorctl/foreign"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

var watchForeignFlag = &cli.BoolFlag{Name: "watch-foreign", Value: true,
	Usage: "watch the primary's file system with fanotify for writes made behind the mount's back, and resync them (--watch-foreign=false: found at the next start instead)"}

// maxHeld bounds the changes held before the session exists; past it, the whole tree is marked.
const maxHeld = 1024

// foreignWatch hands the watcher's changes to the mirror; without a watcher (w nil) it does nothing.
// mu guards m, held and lost; the watcher's goroutine and attach take it.
type foreignWatch struct {
	w     *foreign.Watcher
	state string // for status: "fanotify", or why the primary is not watched

	mu   sync.Mutex
	m    *mirror.Mirror   // nil until attach
	held []foreign.Change // seen before attach
	lost bool             // more than maxHeld before attach, or the kernel lost some

	// noted receives a token when a change was handed to the mirror: the automatic resync then runs
	// soon, instead of at its next interval, so that one stray write degrades the mirror for about a
	// second, not a minute.
	noted chan struct{}
}

// poke tells the automatic resync that a change was marked (never blocks: one token is enough).
func (f *foreignWatch) poke() {
	select {
	case f.noted <- struct{}{}:
	default:
	}
}

// watchForeign starts watching the primary, unless --watch-foreign=false; it never fails the mount.
func watchForeign(c *cli.Context, primary string, logger *slog.Logger) *foreignWatch {
	if !c.Bool(watchForeignFlag.Name) {
		return &foreignWatch{state: "off (--watch-foreign=false)", noted: make(chan struct{}, 1)}
	}
	f := &foreignWatch{state: "fanotify", noted: make(chan struct{}, 1)}
	w, err := foreign.Watch(primary, f.deliver)
	if err != nil {
		logger.Warn("not watching the primary for writes behind the mount's back; they are found at the next mount or sync instead", "err", err)
		f.state = "not watched: " + err.Error()
		return f
	}
	f.w = w
	return f
}

// deliver is called by the watcher's goroutine for each change.
func (f *foreignWatch) deliver(c foreign.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		if c.Lost || len(f.held) >= maxHeld {
			f.lost, f.held = true, nil
		} else if !f.lost {
			f.held = append(f.held, c)
		}
		return
	}
	note(f.m, c)
	f.poke()
}

func note(m *mirror.Mirror, c foreign.Change) {
	if c.Lost {
		m.NoteForeignLoss()
		return
	}
	if c.Ops == foreign.Modify && m.WrittenDirectly(c.Rel) {
		return // the kernel's passthrough write of a log for the application, captured by the mirror
	}
	m.NoteForeignChange(c.Rel, c.PID, c.Comm)
}

// attach hands the changes held so far, and every one from now on, to m.
func (f *foreignWatch) attach(m *mirror.Mirror) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lost {
		m.NoteForeignLoss()
	}
	for _, c := range f.held {
		note(m, c)
	}
	if f.lost || len(f.held) > 0 {
		f.poke()
	}
	f.m, f.held, f.lost = m, nil, false
}

// CaptureBegins and CaptureEnds make the watch ignore the modifications of a log the kernel writes
// directly for the application (fusefs's log passthrough), in the kernel: such writes come from the
// application's process, not the mount's, and would otherwise each be read and filtered here.
func (f *foreignWatch) CaptureBegins(fd int) {
	if f.w != nil {
		_ = f.w.IgnoreModify(fd) // if it fails, note's WrittenDirectly check still drops them
	}
}

func (f *foreignWatch) CaptureEnds(fd int) {
	if f.w != nil {
		_ = f.w.UnignoreModify(fd)
	}
}

// Close stops the watcher: no change reaches the mirror after it returns.
func (f *foreignWatch) Close() {
	if f.w == nil {
		return
	}
	_ = f.w.Close()
}
