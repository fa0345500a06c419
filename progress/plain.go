package progress

import "fmt"

// plain writes a line every Reporter.every while the task runs, and a last line when it ends if it
// wrote any: an operation shorter than the interval leaves nothing.
type plain struct {
	t     *Task
	stop  func()
	ended chan struct{} // closed when the ticking goroutine has returned
	quit  chan struct{}
	lines int // written by the ticking goroutine until ended, then by end
}

func newPlain(t *Task) *plain {
	ticks, stop := t.r.clock.Ticker(t.r.every)
	p := &plain{t: t, stop: stop, ended: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		defer close(p.ended)
		for {
			select {
			case <-ticks:
				p.line(false)
			case <-p.quit:
				return
			}
		}
	}()
	return p
}

func (p *plain) line(final bool) {
	t := p.t
	fmt.Fprintf(t.r.w, "%s: %s\n", t.what, t.figures(t.r.clock.Now(), final))
	p.lines++
}

// update writes nothing: the ticks decide when a line is due, so the output does not depend on how
// often the operation reports.
func (p *plain) update(int64, int64) {}

func (p *plain) end() {
	select {
	case <-p.quit:
		return // already ended
	default:
	}
	p.stop()
	close(p.quit)
	<-p.ended
	if p.lines > 0 {
		p.line(true)
	}
}
