package mirror

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
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
