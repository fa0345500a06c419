package progress

import (
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// bar draws the task on a terminal with mpb: its name, a bar (a spinner for a step), and the same
// figures as the plain lines, redrawn in place. It appears only once the task has run for the
// Reporter's delay, so that quick operations leave nothing behind.
type bar struct {
	t     *Task
	timer *time.Timer

	mu    sync.Mutex // guards what follows
	p     *mpb.Progress
	b     *mpb.Bar
	ended bool
}

func newBar(t *Task) *bar {
	b := &bar{t: t}
	b.timer = time.AfterFunc(t.r.delay, b.show)
	return b
}

func (b *bar) show() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	t := b.t
	b.p = mpb.New(mpb.WithOutput(t.r.w), mpb.ForceTTY(), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithWidth(32))
	final := false // only mpb's rendering goroutine reads and writes it
	text := decor.Any(func(s decor.Statistics) string {
		final = final || s.Completed || s.Aborted
		return t.figures(t.r.clock.Now(), final)
	})
	opts := []mpb.BarOption{
		mpb.PrependDecorators(decor.Name(t.what + " ")),
		mpb.AppendDecorators(text),
	}
	t.mu.Lock()
	done, total := t.done, t.total
	t.mu.Unlock()
	if t.unit != "" {
		b.b = b.p.AddBar(total, opts...)
	} else {
		b.b = b.p.New(0, mpb.SpinnerStyle(), opts...)
	}
	b.b.SetCurrent(done)
	t.r.setLive(b.p)
}

func (b *bar) update(done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b == nil {
		return // not shown yet: show takes the figures from the task
	}
	if total > 0 {
		b.b.SetTotal(total, false)
	}
	b.b.SetCurrent(done)
}

func (b *bar) end() {
	b.timer.Stop()
	b.mu.Lock()
	p, pb, ended := b.p, b.b, b.ended
	b.ended = true
	b.mu.Unlock()
	if ended || p == nil {
		return
	}
	b.t.r.setLive(nil)
	// A total of -1 makes the current value the total and completes the bar: its last drawing stays.
	pb.SetTotal(-1, true)
	p.Wait()
}
