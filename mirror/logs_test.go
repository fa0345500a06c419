package mirror

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testLogs names the test's log files log.NNNNNNNNNN, like Berkeley DB's.
func testLogs(rel string) (uint32, bool) {
	name, ok := strings.CutPrefix(rel, "log.")
	if !ok || len(name) != 10 {
		return 0, false
	}
	n, err := strconv.ParseUint(name, 10, 32)
	return uint32(n), err == nil
}

func testLogName(n int) string { return fmt.Sprintf("log.%010d", n) }

// TestMirror_LogRotationDuringDrainSealsOnlyBeforeIt: logs created while Drain stops the sealer
// neither panic nor block, and after Drain nothing more is sealed.
func TestMirror_LogRotationDuringDrainSealsOnlyBeforeIt(t *testing.T) {
	const logs = 30
	p := newPair(t, Options{Logs: testLogs})
	for n := 1; n <= logs+1; n++ {
		writeFile(t, p.Q(testLogName(n)), []byte("log"))
	}
	var wg sync.WaitGroup
	third := make(chan struct{}) // closed once a third of the logs were created
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 2; n <= logs+1; n++ {
			p.m.logCreated(testLogName(n), uint32(n))
			if n == 1+logs/3 {
				close(third)
			}
		}
	}()
	<-third
	p.m.Drain()
	drained := len(p.m.Sealed())
	wg.Wait()
	p.m.logCreated(testLogName(logs+2), logs+2)
	p.m.Drain()
	if got := len(p.m.Sealed()); got != drained {
		t.Fatalf("%d logs sealed after Drain returned with %d", got, drained)
	}
}

// TestMirror_UnlinkOfALogDoesNotWaitForRetention: the application's unlink of a log returns while the
// engine is still being asked what recovery needs; the retention pass asked for is done by Drain,
// keeps the logs recovery needs, and keeps every log when the engine cannot tell.
func TestMirror_UnlinkOfALogDoesNotWaitForRetention(t *testing.T) {
	cases := []struct {
		name    string
		first   uint32 // what the engine says recovery needs first
		err     error
		dropped []int // retained logs dropped
	}{
		{"nothing needed", 100, nil, []int{1, 2, 3}},
		{"recovery needs log 2 on", 2, nil, []int{1}},
		{"the engine cannot tell", 0, errors.New("db_printlog: killed"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			asked := make(chan struct{}, 16)
			answer := make(chan struct{})
			p := newPair(t, Options{Logs: testLogs, Retention: Retention{Count: 1},
				NeededFrom: func(ctx context.Context) (uint32, error) {
					asked <- struct{}{}
					select {
					case <-answer:
					case <-ctx.Done():
						return 0, ctx.Err()
					}
					return c.first, c.err
				}})
			for n := 1; n <= 5; n++ {
				writeFile(t, p.P(testLogName(n)), []byte("log"))
				writeFile(t, p.Q(testLogName(n)), []byte("log"))
			}
			unlinked := make(chan error, 1)
			go func() {
				for n := 1; n <= 4; n++ {
					if err := p.m.Unlink(testLogName(n)); err != nil {
						unlinked <- err
						return
					}
				}
				unlinked <- nil
			}()
			select {
			case err := <-unlinked:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				close(answer)
				t.Fatal("the unlinks of logs waited for the engine's answer to retention")
			}
			<-asked // a pass is waiting for the engine
			close(answer)
			p.m.Drain()
			if n := len(asked); n > 1 {
				t.Errorf("the engine was asked %d more times: want once per pass, and at most two passes", n)
			}
			dropped := map[int]bool{}
			for _, n := range c.dropped {
				dropped[n] = true
			}
			for n := 1; n <= 5; n++ {
				if got := !exists(p.Q(testLogName(n))); got != dropped[n] {
					t.Errorf("log %d dropped from the mirror = %v, want %v", n, got, dropped[n])
				}
			}
		})
	}
}
