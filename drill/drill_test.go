package drill

import "testing"

func TestParseFault_EveryKindAndAuto(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Fault
		ok   bool
	}{
		{"auto", FaultAuto, true}, {"disk", FaultDisk, true}, {"mount", FaultMount, true},
		{"mirror-disk", FaultMirrorDisk, true}, {"mirror-full", FaultMirrorFull, true},
		{"primary-full", FaultPrimaryFull, true}, {"stop", FaultStop, true},
		{"", "", false}, {"Disk", "", false}, {"power", "", false}, {"full", "", false},
	} {
		got, err := ParseFault(c.in)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("ParseFault(%q) = %q, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestResult_ErrOnlyWhenACommitIsLostOrWrong(t *testing.T) {
	for _, c := range []struct {
		r    Result
		fail bool
	}{
		{Result{Acknowledged: 10, Found: 10}, false},
		{Result{Acknowledged: 10, Found: 9, Lost: 1}, true},
		{Result{Acknowledged: 10, Found: 10, Wrong: 1}, true},
		// A machine loss may lose the commits acknowledged after the archive's last push began, no more.
		{Result{Lose: LoseMachine, Acknowledged: 10, Found: 7, Lost: 3, AtRisk: 3}, false},
		{Result{Lose: LoseMachine, Acknowledged: 10, Found: 10, AtRisk: 3}, false},
		{Result{Lose: LoseMachine, Acknowledged: 10, Found: 6, Lost: 4, AtRisk: 3}, true},
		{Result{Lose: LoseMachine, Acknowledged: 10, Found: 10, Wrong: 1, AtRisk: 3}, true},
	} {
		if err := c.r.Err(); (err != nil) != c.fail {
			t.Errorf("%+v: Err() = %v, want failure %v", c.r, err, c.fail)
		}
	}
}

func TestParseLose(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{{"", true}, {"machine", true}, {"disk", false}, {"Machine", false}} {
		if got, err := ParseLose(c.in); (err == nil) != c.ok || (c.ok && got != c.in) {
			t.Errorf("ParseLose(%q) = %q, %v; want ok=%v", c.in, got, err, c.ok)
		}
	}
}

func TestFault_OnlyMirrorFaultsAreResyncedInsteadOfPromoted(t *testing.T) {
	for _, f := range Faults {
		want := f == FaultMirrorDisk || f == FaultMirrorFull
		if f.OnMirror() != want {
			t.Errorf("%s.OnMirror() = %v, want %v", f, f.OnMirror(), want)
		}
	}
}
