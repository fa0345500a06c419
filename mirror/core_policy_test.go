package mirror

import (
	"strings"
	"testing"
	"time"
)

func FuzzExclusions(f *testing.F) {
	f.Add("*.tmp", "a/b.tmp")
	f.Add("[", ".mirrorctl")
	f.Fuzz(func(t *testing.T, glob, rel string) {
		e, err := NewExclusions([]string{glob}, nil)
		if err != nil {
			return
		}
		got := e.Mirrored(rel)
		if IsMeta(rel) && got {
			t.Fatalf("the metadata path %q is mirrored", rel)
		}
	})
}

func TestParseRetention_Table(t *testing.T) {
	cases := []struct {
		in   string
		want Retention
		ok   bool
	}{
		{"all", Retention{}, true},
		{"", Retention{}, true},
		{"20", Retention{Count: 20}, true},
		{"10GiB", Retention{Size: 10 << 30}, true},
		{"500MB", Retention{Size: 500_000_000}, true},
		{"72h", Retention{Age: 72 * time.Hour}, true},
		{"7d", Retention{Age: 7 * 24 * time.Hour}, true},
		{"0", Retention{}, false},
		{"-3", Retention{}, false},
		{"0d", Retention{}, false},
		{"forever", Retention{}, false},
		{"-1h", Retention{}, false},
	}
	for _, c := range cases {
		got, err := ParseRetention(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("ParseRetention(%q) = %+v, %v; want %+v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--retain-logs") {
			t.Errorf("error for %q does not name the flag: %v", c.in, err)
		}
	}
}

func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"all", "20", "10GiB", "72h", "7d", "9999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRetention(s)
		if err == nil && (r.Count < 0 || r.Size < 0 || r.Age < 0) {
			t.Fatalf("ParseRetention(%q) = %+v: negative", s, r)
		}
	})
}

func FuzzParseErrorPolicy(f *testing.F) {
	f.Add("degrade")
	f.Add("FAIL")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseErrorPolicy(s)
		if err == nil && p != Degrade && p != Fail {
			t.Fatalf("unknown policy %v from %q", p, s)
		}
	})
}
