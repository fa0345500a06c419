package mirror

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestAlongside_RunsEachOnceAndOverlapsWhenTheOtherStarts(t *testing.T) {
	t.Run("other runs exactly once, whoever claims it", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			var here, other atomic.Int32
			alongside(func() { here.Add(1) }, func() { other.Add(1) })
			if here.Load() != 1 || other.Load() != 1 {
				t.Fatalf("round %d: here ran %d times, other %d", i, here.Load(), other.Load())
			}
		}
	})
	t.Run("a slow here overlaps with other", func(t *testing.T) {
		started, released := make(chan struct{}), make(chan struct{})
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			// Each waits for the other: run one after the other, in either order, they never finish.
			alongside(func() { <-started; close(released) }, func() { close(started); <-released })
		}()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Fatal("here waited for other, which never ran beside it")
		}
	})
}
