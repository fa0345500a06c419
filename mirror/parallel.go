package mirror

import "sync/atomic"

// alongside runs here on this goroutine and other on another, at the same time, and returns when
// both have finished. If the other goroutine has not started by the time here returns, other runs
// on this goroutine instead: a new goroutine can take longer to start than a fast disk's fdatasync
// (tens of µs to wake an idle CPU in a VM), and then two syncs in a row finish sooner than two in
// parallel. On a slow disk the two overlap. Whoever claims other first runs it, exactly once.
func alongside(here, other func()) {
	var claimed atomic.Bool
	done := make(chan struct{})
	go func() {
		if claimed.CompareAndSwap(false, true) {
			other()
			close(done)
		}
	}()
	here()
	if claimed.CompareAndSwap(false, true) {
		other()
		return
	}
	<-done
}
