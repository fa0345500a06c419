package torture

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/mirrorctl/mirrorctl/drill"
)

// MinMoment is the earliest moment a fault comes: the workload has committed by then.
const MinMoment = 500 * time.Millisecond

// Options say how to run a campaign.
type Options struct {
	Drill     drill.Options // Fault, Duration and Dir are set per trial
	Trials    int
	MaxMoment time.Duration // each fault comes at a random moment in [MinMoment, MaxMoment]
	Seed      int64         // 0: from the clock
	Faults    []drill.Fault // nil: every kind (drill.Faults)
	// Trial, if set, is told each trial's outcome as it ends.
	Trial func(Trial)
}

// Trial is one drill of the campaign.
type Trial struct {
	N       int           `json:"n"`
	Fault   drill.Fault   `json:"fault"`
	Moment  time.Duration `json:"moment_ns"`
	Result  drill.Result  `json:"result"`
	Error   string        `json:"error,omitempty"` // an unexpected outcome
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Failed reports whether the trial lost a commit or ended unexpectedly.
func (t Trial) Failed() bool { return t.Error != "" || t.Result.Err() != nil }

// Row is the summary of one fault kind (or of all, Fault "all").
type Row struct {
	Fault        drill.Fault `json:"fault"`
	Trials       int         `json:"trials"`
	Acknowledged int         `json:"acknowledged"`
	Found        int         `json:"found"`
	Lost         int         `json:"lost"`
	Wrong        int         `json:"wrong"`
	Unexpected   int         `json:"unexpected"`
}

// Summary is a campaign's outcome.
type Summary struct {
	Seed     int64         `json:"seed"`
	Started  time.Time     `json:"started"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Trials   []Trial       `json:"trials"`
	Rows     []Row         `json:"rows"`
	Total    Row           `json:"total"`
	Complete bool          `json:"complete"` // false: interrupted before the last trial
}

// Err fails the campaign on any lost or wrong commit or unexpected outcome.
func (s Summary) Err() error {
	t := s.Total
	if t.Lost > 0 || t.Wrong > 0 {
		return fmt.Errorf("%d acknowledged commits lost and %d wrong over %d trials: a defect of the first rank (see the kept trial directories)", t.Lost, t.Wrong, t.Trials)
	}
	if t.Unexpected > 0 {
		return fmt.Errorf("%d of %d trials ended unexpectedly (see their errors and kept directories)", t.Unexpected, t.Trials)
	}
	if !s.Complete {
		return fmt.Errorf("the campaign was interrupted after %d trials", t.Trials)
	}
	return nil
}

// Plan draws the fault kind and moment of each trial from seed: the first len(faults) trials take
// each kind once, in a random order.
func Plan(seed int64, trials int, faults []drill.Fault, maxMoment time.Duration) []Trial {
	rnd := rand.New(rand.NewSource(seed))
	first := slices.Clone(faults)
	rnd.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	span := max(maxMoment-MinMoment, 0)
	plan := make([]Trial, trials)
	for i := range plan {
		f := faults[rnd.Intn(len(faults))]
		if i < len(first) {
			f = first[i]
		}
		moment := MinMoment
		if span > 0 {
			moment += time.Duration(rnd.Int63n(int64(span/time.Millisecond))) * time.Millisecond
		}
		plan[i] = Trial{N: i + 1, Fault: f, Moment: moment}
	}
	return plan
}

// Run runs the campaign; ctx ending stops it after the trial under way (Summary.Complete false).
func Run(ctx context.Context, o Options) Summary {
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	faults := o.Faults
	if len(faults) == 0 {
		faults = drill.Faults
	}
	s := Summary{Seed: o.Seed, Started: time.Now().UTC()}
	for _, t := range Plan(o.Seed, o.Trials, faults, o.MaxMoment) {
		if ctx.Err() != nil {
			break
		}
		do := o.Drill
		do.Fault, do.Duration, do.Dir = t.Fault, t.Moment, ""
		do.KeepFailed, do.NoComparison = true, true
		start := time.Now()
		res, err := drill.Run(ctx, do)
		t.Result, t.Elapsed = res, time.Since(start)
		if err != nil {
			t.Error = err.Error()
		}
		if ctx.Err() != nil && err != nil {
			break // interrupted, not a finding
		}
		s.Trials = append(s.Trials, t)
		if o.Trial != nil {
			o.Trial(t)
		}
	}
	s.Complete = len(s.Trials) == o.Trials
	s.Elapsed = time.Since(s.Started)
	s.Rows, s.Total = summarize(s.Trials, faults)
	return s
}

// summarize adds up the trials by fault kind, in the order of faults.
func summarize(trials []Trial, faults []drill.Fault) ([]Row, Row) {
	rows := make([]Row, len(faults))
	total := Row{Fault: "all"}
	for i, f := range faults {
		rows[i].Fault = f
	}
	for _, t := range trials {
		i := slices.Index(faults, t.Fault)
		for _, r := range []*Row{&rows[i], &total} {
			r.Trials++
			r.Acknowledged += t.Result.Acknowledged
			r.Found += t.Result.Found
			r.Lost += t.Result.Lost
			r.Wrong += t.Result.Wrong
			if t.Error != "" {
				r.Unexpected++
			}
		}
	}
	return rows, total
}

// WriteTable writes the summary table by fault kind.
func (s Summary) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\ttrials\tacknowledged\tfound\tlost\twrong\tunexpected\t")
	for _, r := range append(s.Rows, s.Total) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.Fault, r.Trials, r.Acknowledged, r.Found, r.Lost, r.Wrong, r.Unexpected)
	}
	tw.Flush()
}

// Line is one trial in one line, for the campaign's running output.
func (t Trial) Line() string {
	verdict := "ok"
	switch {
	case t.Result.Err() != nil:
		verdict = "LOST " + fmt.Sprint(t.Result.Lost+t.Result.Wrong)
	case t.Error != "":
		verdict = "UNEXPECTED: " + t.Error
	}
	line := fmt.Sprintf("trial %d: %s at %s: %d acknowledged, %d found, %d lost (%s): %s",
		t.N, t.Fault, t.Moment.Round(time.Millisecond), t.Result.Acknowledged, t.Result.Found, t.Result.Lost, t.Elapsed.Round(time.Second), verdict)
	if t.Result.Kept != "" {
		line += "; kept " + t.Result.Kept
	}
	return line
}
