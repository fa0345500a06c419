package progress

import (
	"cmp"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/vbauerster/mpb/v8"
	"golang.org/x/term"
)

// Unit says what a Task counts: Bytes, or a plural noun such as "paths" or "commits". A Task with
// the empty Unit counts nothing: it is a step, shown with its elapsed time only.
type Unit string

// Bytes counts bytes, shown as KiB, MiB, GiB.
const Bytes Unit = "bytes"

// Clock tells the time and ticks; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// Ticker delivers a tick every d until stop is called.
	Ticker(d time.Duration) (c <-chan time.Time, stop func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Options tune a Reporter; the zero value is the default.
type Options struct {
	Off bool // show nothing
	// Every is how often the plain mode writes a line (5 s when zero).
	Every time.Duration
	// Delay is how long a task runs before its bar appears on a terminal (1 s when zero), so that
	// quick operations leave no bar behind.
	Delay time.Duration
	Clock Clock // the real time when nil
}

// Reporter shows the progress of long operations on one stream, one operation at a time.
type Reporter struct {
	w        io.Writer
	terminal bool
	off      bool
	every    time.Duration
	delay    time.Duration
	clock    Clock

	mu   sync.Mutex    // guards live
	live *mpb.Progress // the bar on the terminal now, if any
}

func (r *Reporter) setLive(p *mpb.Progress) {
	r.mu.Lock()
	r.live = p
	r.mu.Unlock()
}

// Writer returns a writer to the Reporter's stream for other messages (log lines): while a bar is
// drawn they are printed above it rather than erased by its next drawing.
func (r *Reporter) Writer() io.Writer {
	if r == nil {
		return io.Discard
	}
	return aboveBar{r}
}

type aboveBar struct{ r *Reporter }

func (a aboveBar) Write(b []byte) (int, error) {
	a.r.mu.Lock()
	p := a.r.live
	a.r.mu.Unlock()
	if p != nil {
		if n, err := p.Write(b); err == nil {
			return n, nil
		}
		// The bar ended meanwhile: write directly.
	}
	return a.r.w.Write(b)
}

// New returns a Reporter that writes to w: bars when w is a terminal, plain lines otherwise.
func New(w io.Writer, o Options) *Reporter {
	return &Reporter{
		w: w, terminal: IsTerminal(w), off: o.Off || w == nil,
		every: cmp.Or(o.Every, 5*time.Second), delay: cmp.Or(o.Delay, time.Second),
		clock: cmp.Or[Clock](o.Clock, realClock{}),
	}
}

// IsTerminal reports whether w is a terminal that a bar can be drawn on: one that knows its width
// (a serial console or a pseudo-terminal nobody sized says 0, and gets plain lines).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	return err == nil && width > 0
}

// Task is one operation being shown. Update and Add may be called from any goroutine; Done is called
// by the task's owner, once (more calls do nothing). A nil Task does nothing.
type Task struct {
	r     *Reporter
	what  string
	unit  Unit
	start time.Time
	view  view // the bar or the plain lines

	mu    sync.Mutex // guards done and total
	done  int64
	total int64
}

// view is how a Task is shown: a bar on a terminal, plain lines elsewhere.
type view interface {
	update(done, total int64)
	end()
}

// Start shows a new operation: what it is, the total it counts to (0 when unknown) and its unit.
func (r *Reporter) Start(what string, total int64, unit Unit) *Task {
	if r == nil || r.off {
		return nil
	}
	t := &Task{r: r, what: what, unit: unit, start: r.clock.Now(), total: total}
	if r.terminal {
		t.view = newBar(t)
	} else {
		t.view = newPlain(t)
	}
	return t
}

// Update sets how much is done and the total (0 keeps the total): the shape of mirrorctl's progress
// callbacks, func(done, total int64).
func (t *Task) Update(done, total int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.done = done
	if total > 0 {
		t.total = total
	}
	done, total = t.done, t.total
	t.mu.Unlock()
	t.view.update(done, total)
}

// Add counts n more done.
func (t *Task) Add(n int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.done += n
	done, total := t.done, t.total
	t.mu.Unlock()
	t.view.update(done, total)
}

// Done ends the task, successful or not; once it returns nothing more is written for it.
func (t *Task) Done() {
	if t == nil {
		return
	}
	t.view.end()
}

// figures formats what the task has done at now: both views show these words.
func (t *Task) figures(now time.Time, final bool) string {
	t.mu.Lock()
	done, total := t.done, t.total
	t.mu.Unlock()
	el := max(now.Sub(t.start), 0)
	elapsed := el.Round(time.Second).String()
	if t.unit == "" {
		if final {
			return "took " + el.Round(100*time.Millisecond).String()
		}
		return elapsed + " elapsed"
	}
	var rate float64
	if el > 0 {
		rate = float64(done) / el.Seconds()
	}
	amount := t.amount(done)
	if total > 0 {
		amount = fmt.Sprintf("%s of %s (%d%%)", t.amount(done), t.amount(total), 100*done/total)
	}
	switch {
	case final:
		return fmt.Sprintf("%s in %s, %s", amount, el.Round(100*time.Millisecond), t.rate(rate))
	case total <= 0:
		return fmt.Sprintf("%s, %s, %s elapsed", amount, t.rate(rate), elapsed)
	case rate <= 0:
		return fmt.Sprintf("%s, %s elapsed, time left unknown", amount, elapsed)
	}
	left := time.Duration(float64(max(total-done, 0)) / rate * float64(time.Second))
	return fmt.Sprintf("%s, %s, %s left", amount, t.rate(rate), left.Round(time.Second))
}

func (t *Task) amount(n int64) string {
	if t.unit == Bytes {
		return humanize.IBytes(uint64(max(n, 0)))
	}
	return fmt.Sprintf("%d %s", n, t.unit)
}

func (t *Task) rate(perSecond float64) string {
	if t.unit == Bytes {
		return humanize.IBytes(uint64(perSecond)) + "/s"
	}
	if perSecond >= 10 {
		return fmt.Sprintf("%.0f %s/s", perSecond, t.unit)
	}
	return fmt.Sprintf("%.1f %s/s", perSecond, t.unit)
}

// Steps shows an operation made of steps that report no figures (promote: salvage, recovery,
// checks): each step is a Task of its own, shown with its elapsed time.
type Steps struct {
	r   *Reporter
	cur *Task
}

// Steps returns an empty sequence of steps.
func (r *Reporter) Steps() *Steps { return &Steps{r: r} }

// Next ends the current step and starts the one named what.
func (s *Steps) Next(what string) {
	s.cur.Done()
	s.cur = s.r.Start(what, 0, "")
}

// Done ends the current step.
func (s *Steps) Done() {
	s.cur.Done()
	s.cur = nil
}
