package torture

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/drill"
)

func TestPlan_FirstTrialsCoverEveryKindAndTheSeedFixesThePlan(t *testing.T) {
	for _, c := range []struct {
		seed   int64
		trials int
	}{{1, len(drill.Faults)}, {2, len(drill.Faults)}, {3, 50}} {
		plan := Plan(c.seed, c.trials, drill.Faults, 5*time.Second)
		var first []drill.Fault
		for i, tr := range plan {
			if i < len(drill.Faults) {
				first = append(first, tr.Fault)
			}
			if tr.Moment < MinMoment || tr.Moment > 5*time.Second {
				t.Errorf("seed %d trial %d: moment %s outside [%s, 5s]", c.seed, tr.N, tr.Moment, MinMoment)
			}
		}
		slices.Sort(first)
		want := slices.Clone(drill.Faults)
		slices.Sort(want)
		if !slices.Equal(first, want) {
			t.Errorf("seed %d: the first trials are %v, want each kind once", c.seed, first)
		}
		if again := Plan(c.seed, c.trials, drill.Faults, 5*time.Second); !slices.Equal(again, plan) {
			t.Errorf("seed %d: two plans differ", c.seed)
		}
	}
}

func TestSummary_ErrOnLossOrUnexpectedOutcome(t *testing.T) {
	ok := Trial{Fault: drill.FaultDisk, Result: drill.Result{Acknowledged: 5, Found: 5}}
	lost := Trial{Fault: drill.FaultMount, Result: drill.Result{Acknowledged: 5, Found: 4, Lost: 1}}
	odd := Trial{Fault: drill.FaultStop, Error: "verify: differs"}
	for _, c := range []struct {
		trials []Trial
		want   string
	}{
		{[]Trial{ok, ok}, ""},
		{[]Trial{ok, lost}, "1 acknowledged commits lost"},
		{[]Trial{ok, odd}, "1 of 2 trials ended unexpectedly"},
	} {
		s := Summary{Trials: c.trials, Complete: true}
		s.Rows, s.Total = summarize(c.trials, drill.Faults)
		err := s.Err()
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d trials: Err() = %v, want %q", len(c.trials), err, c.want)
		}
		var b strings.Builder
		s.WriteTable(&b)
		if !strings.Contains(b.String(), "mirror-full") || !strings.Contains(b.String(), "all") {
			t.Errorf("the table lacks a kind or the total:\n%s", b.String())
		}
	}
}
