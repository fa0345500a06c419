package progress

import (
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// bar draws the task on a terminal with mpb: its name, a bar (a spinner when the total is unknown),
// and the same figures as the plain lines, redrawn in place.
type bar struct {
	t     *Task
	p     *mpb.Progress
	b     *mpb.Bar
	timer *time.Timer
	ended bool // only end touches it, from one goroutine: the Task's owner
}

func newBar(t *Task) *bar {
	show := make(chan any)
	timer := time.AfterFunc(t.r.delay, func() { close(show) })
	p := mpb.New(mpb.WithOutput(t.r.w), mpb.ForceTTY(), mpb.WithRenderDelay(show),
		mpb.WithRefreshRate(200*time.Millisecond), mpb.WithWidth(32))
	final := false
	text := decor.Any(func(s decor.Statistics) string {
		final = final || s.Completed || s.Aborted
		return t.figures(t.r.clock.Now(), final)
	}, decor.WCSyncSpaceR)
	opts := []mpb.BarOption{
		mpb.PrependDecorators(decor.Name(t.what, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(text),
	}
	var b *mpb.Bar
	if t.unit != "" { // the total may come later, with the first Update
		b = p.AddBar(t.total, opts...)
	} else {
		b = p.New(t.total, mpb.SpinnerStyle(), opts...)
	}
	return &bar{t: t, p: p, b: b, timer: timer}
}

func (b *bar) update(done, total int64) {
	if total > 0 {
		b.b.SetTotal(total, false)
	}
	b.b.SetCurrent(done)
}

func (b *bar) end() {
	if b.ended {
		return
	}
	b.ended = true
	// A total of -1 makes the current value the total and completes the bar: its last drawing stays.
	b.b.SetTotal(-1, true)
	b.p.Wait()
	b.timer.Stop()
}
