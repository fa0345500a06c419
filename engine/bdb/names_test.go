package bdb

import (
	"testing"

	"github.com/mirrorctl/mirrorctl/engine"
)

func TestParseLogName_Table(t *testing.T) {
	cases := []struct {
		name string
		n    uint32
		ok   bool
	}{
		{"log.0000000001", 1, true},
		{"log.0000000042", 42, true},
		{"log.4294967295", 4294967295, true},
		{"log.4294967296", 0, false}, // overflows uint32
		{"log.0000000000", 0, false},
		{"log.000000001", 0, false},
		{"log.00000000001", 0, false},
		{"log.00000000a1", 0, false},
		{"log.+000000001", 0, false},
		{"LOG.0000000001", 0, false},
		{"xlog.0000000001", 0, false},
		{"", 0, false},
	}
	for _, c := range cases {
		n, ok := ParseLogName(c.name)
		if n != c.n || ok != c.ok {
			t.Errorf("ParseLogName(%q) = %d, %v; want %d, %v", c.name, n, ok, c.n, c.ok)
		}
	}
}

func TestLogName_RoundTrip(t *testing.T) {
	for _, n := range []uint32{1, 9, 10, 1234567890, 4294967295} {
		got, ok := ParseLogName(FormatLogName(n))
		if !ok || got != n {
			t.Errorf("round trip of %d gave %d, %v", n, got, ok)
		}
	}
}

func FuzzParseLogName(f *testing.F) {
	for _, s := range []string{"log.0000000001", "log.4294967296", "log.", "log.-000000001", "__db.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseLogName(s)
		if !ok {
			return
		}
		if FormatLogName(n) != s {
			t.Fatalf("ParseLogName(%q) = %d but FormatLogName gives %q", s, n, FormatLogName(n))
		}
	})
}

func TestBDB_Classify(t *testing.T) {
	b := &BDB{}
	cases := map[string]engine.Class{
		"__db.001":            engine.ClassRegion,
		"__db.register":       engine.ClassRegion,
		"__db.rep.gen":        engine.ClassRegion,
		"log.0000000003":      engine.ClassLog,
		"logs/log.0000000003": engine.ClassLog,
		"DB_CONFIG":           engine.ClassConfig,
		"accounts.db":         engine.ClassDatabase,
		"data/history.db":     engine.ClassDatabase,
		"notes.txt":           engine.ClassOther,
		"log.3":               engine.ClassOther,
	}
	for rel, want := range cases {
		if got := b.Classify(rel); got != want {
			t.Errorf("Classify(%q) = %s, want %s", rel, got, want)
		}
	}
}

func TestCheckLogSequence_Gap(t *testing.T) {
	ok := []engine.LogFile{{Rel: "log.0000000004", Number: 4}, {Rel: "log.0000000005", Number: 5}}
	if err := engine.CheckLogSequence(ok); err != nil {
		t.Fatalf("contiguous logs: %v", err)
	}
	gap := append(ok, engine.LogFile{Rel: "log.0000000007", Number: 7})
	err := engine.CheckLogSequence(gap)
	if err == nil || err.Error() != "log sequence has a gap: log.0000000005 is followed by log.0000000007" {
		t.Fatalf("gap: got %v", err)
	}
}

// Invariant: only the names Berkeley DB creates a database under are staged; its regions are not,
// whatever their suffix.
func TestIsStagedName(t *testing.T) {
	for name, want := range map[string]bool{
		"__db.80000001.ce8c044d":  true,
		"__db.80000003.2ca7090":   true, // printed without leading zeros
		"__db.1.a":                true,
		"__db.001":                false,
		"__db.register":           false,
		"__db.rep.gen":            false,
		"__db.rep.egen":           false,
		"__db.80000001.ce8c044d0": false,
		"__db.80000001.":          false,
		"accounts.db":             false,
		"__db.8000000g.ce8c044d":  false,
	} {
		if got := IsStagedName(name); got != want {
			t.Errorf("IsStagedName(%q) = %v, want %v", name, got, want)
		}
	}
}
