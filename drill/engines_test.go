package drill

import (
	"strings"
	"testing"
	"time"
)

func TestParseWorkload(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{"", WorkloadBDB, ""},
		{"auto", WorkloadBDB, ""},
		{"bdb", WorkloadBDB, ""},
		{"sqlite", WorkloadSQLite, ""},
		{"lmdb", WorkloadLMDB, ""},
		{"LMDB", "", `--engine "LMDB": use bdb (the default), sqlite or lmdb`},
	}
	for _, c := range cases {
		got, err := ParseWorkload(c.in)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && err.Error() != c.err {
			t.Errorf("ParseWorkload(%q) = %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
	}
}

// TestOptions_CheckWorkload: a machine loss needs the archive's log history, which only Berkeley DB
// keeps; the workload and its check run the engine's own subcommand on the mount.
func TestOptions_CheckWorkload(t *testing.T) {
	base := Options{Duration: time.Second, ValueSize: 10}
	for _, c := range []struct {
		workload, lose, err string
	}{
		{"", LoseMachine, ""},
		{WorkloadSQLite, "", ""},
		{WorkloadSQLite, LoseMachine, "and SQLite has none"},
		{WorkloadLMDB, LoseMachine, "and LMDB has none"},
		{"rocksdb", "", `--engine "rocksdb"`},
	} {
		o := base
		o.Workload, o.Lose = c.workload, c.lose
		err := o.Check()
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("Check of workload %q, lose %q: %v; want %q", c.workload, c.lose, err, c.err)
		}
	}
	for _, c := range []struct{ workload, run, check string }{
		{"", "workload run --dir /mp", "workload check --dir /m --acked /a"},
		{WorkloadSQLite, "workload sqlite run --dir /mp", "workload sqlite check --dir /m --acked /a"},
		{WorkloadLMDB, "workload lmdb run --dir /mp", "workload lmdb check --dir /m --acked /a"},
	} {
		d := &drill{o: Options{Workload: c.workload, ValueSize: 7}, mp: "/mp", ackedPath: "/a"}
		if run := strings.Join(d.workloadArgs(), " "); !strings.HasPrefix(run, c.run+" --value-size 7") {
			t.Errorf("workload %q runs %q; want %q --value-size 7 ...", c.workload, run, c.run)
		}
		if check := strings.Join(d.checkArgs("/m"), " "); check != c.check+" --value-size 7" {
			t.Errorf("workload %q checks with %q; want %q --value-size 7", c.workload, check, c.check)
		}
	}
}
