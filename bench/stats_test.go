package main

import (
	"math"
	"testing"
)

var nan = math.NaN()

func same(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 1e-9 }

func TestSummarize_MedianAndSpreadWithoutMissingRounds(t *testing.T) {
	cases := []struct {
		name string
		in   []float64
		want summary
	}{
		{"none", nil, summary{nan, nan, nan, 0}},
		{"all missing", []float64{nan, nan}, summary{nan, nan, nan, 0}},
		{"one", []float64{7}, summary{7, 7, 7, 1}},
		{"odd count, unsorted", []float64{5, 1, 3}, summary{3, 1, 5, 3}},
		{"even count: mean of the middle two", []float64{4, 1, 3, 10}, summary{3.5, 1, 10, 4}},
		{"a missing round is left out", []float64{2, nan, 6, 4}, summary{4, 2, 6, 3}},
	}
	for _, c := range cases {
		got := summarize(c.in)
		if !same(got.Med, c.want.Med) || !same(got.Min, c.want.Min) || !same(got.Max, c.want.Max) || got.N != c.want.N {
			t.Errorf("%s: summarize(%v) = %+v; want %+v", c.name, c.in, got, c.want)
		}
	}
}

func TestRatios_RoundByRound(t *testing.T) {
	cases := []struct {
		name     string
		num, den []float64
		want     []float64
	}{
		{"paired", []float64{10, 30}, []float64{20, 10}, []float64{0.5, 3}},
		{"missing or zero is NaN", []float64{nan, 4, 4}, []float64{2, nan, 0}, []float64{nan, nan, nan}},
		{"shorter wins", []float64{1, 2, 3}, []float64{1}, []float64{1}},
	}
	for _, c := range cases {
		got := ratios(c.num, c.den)
		if len(got) != len(c.want) {
			t.Fatalf("%s: ratios = %v; want %v", c.name, got, c.want)
		}
		for i := range got {
			if !same(got[i], c.want[i]) {
				t.Errorf("%s: ratios = %v; want %v", c.name, got, c.want)
			}
		}
	}
}

func TestIdealMirror_NativeTimesBothOverOne(t *testing.T) {
	cases := []struct {
		name              string
		native, one, both []float64
		want              []float64
	}{
		// the figures: 2,137 native, 3,054 one disk, 2,099 both disks: 1,468
		{"the issue's disk regime", []float64{2137}, []float64{3054}, []float64{2099}, []float64{2137 * 2099.0 / 3054}},
		{"per round, not of medians", []float64{100, 200}, []float64{10, 40}, []float64{5, 10}, []float64{50, 50}},
		{"a round without a probe", []float64{100, 200}, []float64{nan, 40}, []float64{5, 10}, []float64{nan, 50}},
	}
	for _, c := range cases {
		got := idealMirror(c.native, c.one, c.both)
		for i := range c.want {
			if !same(got[i], c.want[i]) {
				t.Errorf("%s: idealMirror = %v; want %v", c.name, got, c.want)
			}
		}
	}
	if got := idealMirror([]float64{2137}, []float64{3054}, []float64{2099})[0]; math.Round(got) != 1469 {
		t.Errorf("ideal mirror of the issue's disk regime = %.1f; want about 1,468", got)
	}
}
