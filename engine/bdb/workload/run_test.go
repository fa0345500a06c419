package workload

import (
	"bytes"
	"context"
	"sort"
	"testing"
)

// TestRun_EveryAcknowledgedKeyPrintedOnceAndDurable checks the invariant the drill's ledger rests on,
// for one committing thread and for several: each acknowledged commit is printed as one whole line,
// once, the keys are exactly Start..Start+Txns-1, and every one of them is in the environment.
func TestRun_EveryAcknowledgedKeyPrintedOnceAndDurable(t *testing.T) {
	cases := []struct {
		name    string
		threads int
		txns    int
	}{
		{"one thread", 1, 60},
		{"four threads", 4, 200},
		{"sixteen threads", 16, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Dir: t.TempDir(), Txns: c.txns, ValueSize: 256, Start: 1000, CheckpointEvery: 50, Threads: c.threads}
			var out bytes.Buffer
			st, err := Run(context.Background(), o, &out)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			acked, err := ReadAcked(&out)
			if err != nil {
				t.Fatalf("ReadAcked: %v", err)
			}
			if st.Commits != c.txns || len(acked) != c.txns {
				t.Fatalf("commits %d, printed %d; want %d", st.Commits, len(acked), c.txns)
			}
			if st.Checkpoints != c.txns/50 {
				t.Errorf("checkpoints %d; want %d", st.Checkpoints, c.txns/50)
			}
			sorted := append([]int(nil), acked...)
			sort.Ints(sorted)
			for i, k := range sorted {
				if k != o.Start+i {
					t.Fatalf("printed keys %v...; want each of %d..%d once", sorted[:min(len(sorted), 20)], o.Start, o.Start+c.txns-1)
				}
			}
			res, err := Check(o, acked, true)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if res.Found != c.txns || res.Lost != 0 || res.Wrong != 0 {
				t.Fatalf("Check = %+v; want all %d found", res, c.txns)
			}
		})
	}
}
