package mirror

import (
	"context"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMirror_ReleaseTargetNeverBreaksAStartingResync: the mount lets go of a degraded mirror's disk
// every second (ReleaseTarget), also between a resync's reopening of the mirror and its first copy.
// The torture campaign caught that moment: the release closed the tree the resync had just opened,
// and the resync failed with "bad file descriptor". A resync under way, from its first step, must
// keep the mirror it opened.
func TestMirror_ReleaseTargetNeverBreaksAStartingResync(t *testing.T) {
	p := newPair(t, Options{OnError: Degrade})
	f, err := p.m.OpenFile("accounts.db", unix.O_CREAT|unix.O_RDWR, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for round := 0; round < 20; round++ {
		if _, err := f.WriteAt([]byte("page"), int64(round)*4096); err != nil {
			t.Fatal(err)
		}
		_ = p.m.mirrorFailed("write", "accounts.db", unix.ENOSPC) // the mirror filled up
		p.m.ReleaseTarget()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // what the mount's state ticker does while degraded, as often as it can
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					p.m.ReleaseTarget()
				}
			}
		}()
		a, err := p.m.Resync(context.Background())
		close(stop)
		wg.Wait()
		if err != nil || !a.Whole {
			t.Fatalf("round %d: resync with releases around it: %+v, %v", round, a, err)
		}
	}
}
