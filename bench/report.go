package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func report(regimes []*regime, workloads []workload, threads []int, res, cpu results, rec []recoveryRow, copies []copyRow, resyncs []resyncRow, unlinks []unlinkRow, arch *archiveResult) error {
	var md strings.Builder
	host, _ := os.Hostname()
	kernel, _ := exec.Command("uname", "-r").Output()
	fmt.Fprintf(&md, "# mirrorctl benchmark\n\n")
	fmt.Fprintf(&md, "- Machine: %s, %d CPUs, Linux %s\n", host, runtime.NumCPU(), strings.TrimSpace(string(kernel)))
	fmt.Fprintf(&md, "- Date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&md, "- Command: `%s` (what `make bench` runs, as root)\n", strings.Join(os.Args, " "))
	fmt.Fprintf(&md, "- Rounds: %d interleaved rounds of %d s per workload. In each round and regime the physical limit is measured first, then every configuration is mounted at once and each workload runs on each configuration in turn (the order turns by one each round), so the figures a ratio compares are seconds apart.\n", *rounds, *seconds)
	for _, g := range regimes {
		fmt.Fprintf(&md, "- Regime %s: primary and mirror on two %s.\n", g.key, g.title)
	}
	fmt.Fprintf(&md, "\nFigures are medians over the rounds with (min–max). Ratios are taken round by round between figures of the same round, then summarised the same way.\n\n")
	var names []string // the configurations of the chart, in the first regime's order
	if *throughput {
		for _, g := range regimes {
			names = configNames(g, res)
			throughputTables(&md, g, names, workloads, threads, res, cpu)
		}
	}
	if len(rec)+len(copies)+len(resyncs)+len(unlinks) > 0 {
		fmt.Fprintf(&md, "The failover, initial-copy, resync and unlink benchmarks below ran on the disks of regime %s only.\n\n", regimes[0].key)
	}
	if len(rec) > 0 {
		fmt.Fprintf(&md, "## Failover: promote against catastrophic recovery of the same mirror\n\n")
		fmt.Fprintf(&md, "| log history | databases | log files | promote | files read by promote | `db_recover -c` | promote / catastrophic |\n|---|---|---|---|---|---|---|\n")
		for _, r := range rec {
			fmt.Fprintf(&md, "| %d MiB | %.0f MiB | %d | %s | %d | %s | %.1f%% |\n", r.HistoryMiB, r.DatabaseMiB, r.LogFiles, r.Promote.Round(time.Millisecond), r.Replayed,
				r.Catastrophic.Round(time.Millisecond), 100*r.Promote.Seconds()/r.Catastrophic.Seconds())
		}
		fmt.Fprintln(&md)
	}
	if len(copies) == 2 {
		fmt.Fprintf(&md, "## Initial copy of a %s environment, from a cold page cache to the second disk\n\n", humanBytes(copies[0].Size))
		fmt.Fprintf(&md, "| tool | time, median (min–max) | rate | speed relative to cp -a |\n|---|---|---|---|\n")
		cp := medianDur(copies[0].Elapsed)
		for _, c := range copies {
			m := medianDur(c.Elapsed)
			lo, hi := minMaxDur(c.Elapsed)
			fmt.Fprintf(&md, "| %s | %s (%s–%s) | %.0f MiB/s | **%.2f×** |\n", c.Tool, m.Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond),
				float64(c.Size)/(1<<20)/m.Seconds(), cp.Seconds()/m.Seconds())
		}
		fmt.Fprintf(&md, "\nBoth copies are durable when timed (`cp -a` is followed by `sync -f` of the target); the environment is four large database files, 10 MiB log files and 8 KiB files.\n\n")
	}
	if len(resyncs) > 0 {
		fmt.Fprintf(&md, "## Resync after a degraded period\n\n")
		fmt.Fprintf(&md, "The mirror's disk was filled up, the change written through the mount (new log files, the first of which failed on the mirror with ENOSPC and degraded the mount, then 16 pages of one database), the space freed, and `mirrorctl resync` timed.\n\n")
		fmt.Fprintf(&md, "| environment | changed while degraded | size of the files changed | resync | paths | copied |\n|---|---|---|---|---|---|\n")
		for _, r := range resyncs {
			fmt.Fprintf(&md, "| %s | %s | %s | %s | %d | %s |\n", humanBytes(r.EnvBytes), humanBytes(r.Changed), humanBytes(r.DirtyBytes), r.Elapsed.Round(time.Millisecond), r.PathsResyncd, humanBytes(r.BytesCopied))
		}
		fmt.Fprintf(&md, "\nResync compares and copies whole files that changed (it records changed paths, not ranges): its time follows the size of the files touched, not the size of the environment.\n\n")
	}
	if len(unlinks) > 0 {
		fmt.Fprintf(&md, "## Unlink of a log file through the mount, with retention and without\n\n")
		fmt.Fprintf(&md, "| --retain-logs | log files unlinked | median | p90 | slowest |\n|---|---|---|---|---|\n")
		for _, u := range unlinks {
			fmt.Fprintf(&md, "| %s | %d | %s | %s | %s |\n", u.Retain, u.Files, u.Median.Round(time.Microsecond), u.P90.Round(time.Microsecond), u.Slowest.Round(time.Microsecond))
		}
		fmt.Fprintf(&md, "\nA Berkeley DB environment with 64 KiB logs and a checkpoint every 50 commits was written through the mount, then its oldest logs unlinked one by one. Retention asks the engine what recovery needs in a background pass: the application's unlink does not wait for it.\n\n")
	}
	archiveTables(&md, arch)
	for _, g := range regimes {
		for name, why := range g.notes {
			fmt.Fprintf(&md, "Not measured in regime %s: %s (%s).\n", g.key, name, why)
		}
	}
	fmt.Print("\n" + md.String())
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*outDir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*outDir, "results.svg"), []byte(chart(regimes, names, workloads, res)), 0o644)
}

// chart draws the ratios to native (median of the rounds) as grouped horizontal bars, one group per
// workload, one panel per regime side by side.
func chart(regimes []*regime, names []string, workloads []workload, res results) string {
	const barH, gap, label, width = 12, 14, 330, 330
	colors := []string{"#888888", "#4e79a7", "#a0cbe8", "#e15759", "#f28e2b", "#ffbe7d", "#59a14f", "#b07aa1"}
	h := len(workloads)*(len(names)*barH+gap) + 60 + len(names)*16
	panel := width + 60
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", label+len(regimes)*panel, h)
	fmt.Fprintf(&b, `<text x="10" y="16" font-size="13">mirrorctl: throughput relative to native (1.0 = native), median of per-round ratios</text>`+"\n")
	const maxRatio = 1.5
	y := 0
	for p, g := range regimes {
		left := label + p*panel
		fmt.Fprintf(&b, `<text x="%d" y="34" font-size="12">regime %s</text>`+"\n", left, g.key)
		y = 44
		for _, w := range workloads {
			if p == 0 {
				fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+barH, w.name)
			}
			native := res.get(g.key, w.name, "native")
			for i, n := range names {
				ratio := summarize(ratios(res.get(g.key, w.name, n), native)).Med
				if math.IsNaN(ratio) {
					y += barH
					continue
				}
				bw := int(float64(width) * min(ratio, maxRatio) / maxRatio)
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/><text x="%d" y="%d">%.2f</text>`+"\n",
					left, y, bw, barH-2, colors[i%len(colors)], left+bw+4, y+barH-3, ratio)
				y += barH
			}
			y += gap
		}
		x1 := left + int(float64(width)/maxRatio)
		fmt.Fprintf(&b, `<line x1="%d" y1="40" x2="%d" y2="%d" stroke="black" stroke-dasharray="3,3"/>`+"\n", x1, x1, y)
	}
	for i, n := range names {
		fmt.Fprintf(&b, `<rect x="10" y="%d" width="10" height="10" fill="%s"/><text x="26" y="%d">%s</text>`+"\n", y+i*16, colors[i%len(colors)], y+i*16+9, n)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func medianDur(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	m, _, _ := median(f)
	return time.Duration(m)
}

func minMaxDur(v []time.Duration) (time.Duration, time.Duration) {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	_, lo, hi := median(f)
	return time.Duration(lo), time.Duration(hi)
}
