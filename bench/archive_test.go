package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSizes_MiBAboveZero(t *testing.T) {
	cases := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"", nil, false},
		{"  ", nil, false},
		{"64", []int{64}, false},
		{"64, 256", []int{64, 256}, false},
		{"64,0", nil, true},
		{"-8", nil, true},
		{"64,,256", nil, true},
		{"64MiB", nil, true},
	}
	for _, c := range cases {
		got, err := parseSizes(c.in)
		if (err != nil) != c.wantErr || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseSizes(%q) = %v, %v; want %v (error: %v)", c.in, got, err, c.want, c.wantErr)
		}
	}
}

// Each commit of the workload writes 4 KiB to each of its two databases, two overflow pages each.
func TestKeySpaceFor_SixteenKiBOfDatabasePerKey(t *testing.T) {
	for mib, want := range map[int]int{1: 64, 64: 4096, 256: 16384} {
		if got := keySpaceFor(mib); got != want {
			t.Errorf("keySpaceFor(%d) = %d; want %d", mib, got, want)
		}
	}
}

// The ratio is taken round by round, then summarised: rounds (100, 50) and (90, 90) give 0.50 and
// 1.00, whose median is 0.75, not 140/190.
func TestArchiveTables_RatioRoundByRound(t *testing.T) {
	a := &archiveResult{Regime: "disk", Title: "loop disks",
		Without: []float64{100, 90}, With: []float64{50, 90}, Pushes: []float64{1, 3},
		Restores: []restoreRow{{DatabaseMiB: 64, DatabaseBytes: 64 << 20, LogBytes: 70 << 20, Fetched: 80 << 20,
			FromS3: []time.Duration{2 * time.Second, 6 * time.Second}, FromMirror: []time.Duration{time.Second, 6 * time.Second}}}}
	var md strings.Builder
	archiveTables(&md, a)
	for _, want := range []string{
		"| Berkeley DB sync commits, 256 B values (txn/s) | 95 (90–100) | 70 (50–90) | **0.75×** (0.50–1.00) | 2 (1–3) |",
		"| 4s (2s–6s) | 3.5s (1s–6s) | **1.50×** (1.00–2.00) |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("archiveTables lacks %q:\n%s", want, md.String())
		}
	}
}

func TestArchiveTables_SkippedSaysWhy(t *testing.T) {
	var md strings.Builder
	archiveTables(&md, &archiveResult{Skipped: "versitygw is not installed"})
	if got := md.String(); !strings.Contains(got, "Not measured") || !strings.Contains(got, "versitygw is not installed") || strings.Contains(got, "|") {
		t.Errorf("a skipped archive benchmark reads %q", got)
	}
	md.Reset()
	archiveTables(&md, nil)
	if md.Len() != 0 {
		t.Errorf("-archive=false writes %q", md.String())
	}
}
