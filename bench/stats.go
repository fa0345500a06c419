package main

import (
	"math"
	"sort"
)

// The arithmetic of the tables: figures are kept per round (NaN where a round has none), so that a
// ratio is taken between two figures of the same round (measured seconds apart, under the same
// load) before the rounds are summarised.

// summary is the median of a set of figures with its spread.
type summary struct {
	Med, Min, Max float64
	N             int // figures summarised (NaN left out)
}

// summarize returns the median (the mean of the two middle figures for an even count), min and max
// of the figures that are not NaN; N is 0 when there are none.
func summarize(v []float64) summary {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return summary{Med: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{Med: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// median is summarize for callers that want the three numbers.
func median(v []float64) (med, lo, hi float64) {
	s := summarize(v)
	return s.Med, s.Min, s.Max
}

// ratios divides num by den round by round; a round where either is missing or den is 0 is NaN.
func ratios(num, den []float64) []float64 {
	out := make([]float64, min(len(num), len(den)))
	for i := range out {
		if den[i] == 0 || math.IsNaN(num[i]) || math.IsNaN(den[i]) {
			out[i] = math.NaN()
			continue
		}
		out[i] = num[i] / den[i]
	}
	return out
}

// idealMirror is, round by round, what a perfect mirror of the workload would reach: the native
// rate slowed by what the second disk costs at the physical limit, native × (both disks ÷ one disk),
// where one and both are the append+fdatasync rates of the primary's disk alone and of both disks
// synced in parallel.
func idealMirror(native, one, both []float64) []float64 {
	f := ratios(both, one)
	out := make([]float64, min(len(native), len(f)))
	for i := range out {
		out[i] = native[i] * f[i] // NaN stays NaN
	}
	return out
}

// nanRounds is a per-round slot list with nothing measured yet.
func nanRounds(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}
