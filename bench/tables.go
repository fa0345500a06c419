package main

import (
	"fmt"
	"strings"
)

// The tables of one regime in results.md.

// configNames are the regime's configurations that have figures, in their order.
func configNames(g *regime, res results) []string {
	var names []string
	for _, c := range g.configs {
		for _, byConfig := range res[g.key] {
			if summarize(byConfig[c.name]).N > 0 {
				names = append(names, c.name)
				break
			}
		}
	}
	return names
}

// figure is a median with its spread, "1234 (1100–1300)"; a dash when nothing was measured.
func figure(s summary) string {
	if s.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.Med, s.Min, s.Max)
}

// ratio is a median ratio with its spread, "**0.71×** (0.65–0.80)".
func ratio(s summary) string {
	if s.N == 0 {
		return "—"
	}
	return fmt.Sprintf("**%.2f×** (%.2f–%.2f)", s.Med, s.Min, s.Max)
}

func tableHead(md *strings.Builder, cols ...string) {
	fmt.Fprintf(md, "| %s |\n|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
}

func tableRow(md *strings.Builder, cells ...string) {
	fmt.Fprintf(md, "| %s |\n", strings.Join(cells, " | "))
}

func throughputTables(md *strings.Builder, g *regime, names []string, workloads []workload, threads []int, res, cpu results) {
	fmt.Fprintf(md, "## Regime %s: %s\n\n", g.key, g.title)
	fmt.Fprintf(md, "### Throughput, and the ratio to native\n\n")
	tableHead(md, append([]string{"workload"}, names...)...)
	for _, w := range workloads {
		native := res.get(g.key, w.name, "native")
		row := []string{fmt.Sprintf("%s (%s)", w.name, w.unit)}
		for _, n := range names {
			v := res.get(g.key, w.name, n)
			row = append(row, figure(summarize(v))+" "+ratio(summarize(ratios(v, native))))
		}
		tableRow(md, row...)
	}
	fmt.Fprintf(md, "\nReads were served from the page cache (the data had just been written), except the row that says the caches were dropped; that row is noisy (the loop files' own cache makes a dropped cache hard to reach).\n\n")

	fmt.Fprintf(md, "### The physical limit and the ideal mirror\n\n")
	tableHead(md, "physical limit (`bench fsyncprobe`)", "rate")
	limits := map[string][2][]float64{} // by probe kind: one disk, both disks
	for _, p := range probes {
		v := res.get(g.key, p.name, "probe")
		tableRow(md, p.name, figure(summarize(v))+" "+p.unit)
		l := limits[p.kind]
		if p.both {
			l[1] = v
			tableRow(md, "both ÷ one", ratio(summarize(ratios(l[1], l[0]))))
		} else {
			l[0] = v
		}
		limits[p.kind] = l
	}
	fmt.Fprintf(md, "\nThe ideal mirror of a commit or streaming workload is, round by round, native × (both ÷ one) of the probe of its kind: native slowed by exactly what writing and syncing the second disk in parallel costs at the disks' limit. Each configuration's ratio to it:\n\n")
	others := names[min(1, len(names)):] // all but native
	tableHead(md, append([]string{"workload", "native", "ideal mirror"}, suffix(others, " ÷ ideal")...)...)
	for _, w := range workloads {
		if w.limit == "" {
			continue
		}
		native := res.get(g.key, w.name, "native")
		ideal := idealMirror(native, limits[w.limit][0], limits[w.limit][1])
		row := []string{w.name, figure(summarize(native)), figure(summarize(ideal))}
		for _, n := range others {
			row = append(row, ratio(summarize(ratios(res.get(g.key, w.name, n), ideal))))
		}
		tableRow(md, row...)
	}
	fmt.Fprintf(md, "\nWith several committing threads the probe's rates (one record at a time) understate what group commit reaches on one disk; the ideal mirror is then a ratio, not a ceiling.\n\n")

	fmt.Fprintf(md, "### mirrorctl against go-fuse's loopback (which mirrors nothing)\n\n")
	pairs := [][2]string{
		{"mirrorctl", "go-fuse loopback"},
		{"mirrorctl", "go-fuse loopback, no passthrough"},
		{"mirrorctl --no-passthrough", "go-fuse loopback, no passthrough"},
		{"mirrorctl", "mirrorctl --log-passthrough=false"},
	}
	var cols []string
	for _, p := range pairs {
		cols = append(cols, p[0]+" ÷ "+p[1])
	}
	tableHead(md, append([]string{"workload"}, cols...)...)
	for _, w := range workloads {
		row := []string{w.name}
		for _, p := range pairs {
			row = append(row, ratio(summarize(ratios(res.get(g.key, w.name, p[0]), res.get(g.key, w.name, p[1])))))
		}
		tableRow(md, row...)
	}
	fmt.Fprintln(md)

	if len(threads) > 1 {
		fmt.Fprintf(md, "### Scaling with committing threads (group commit), relative to one thread\n\n")
		var cols []string
		for _, size := range []int{256, 4096} {
			for _, n := range threads[1:] {
				cols = append(cols, fmt.Sprintf("%s values: %d ÷ %d threads", valueLabel(size), n, threads[0]))
			}
		}
		tableHead(md, append([]string{"configuration"}, cols...)...)
		for _, n := range names {
			row := []string{n}
			for _, size := range []int{256, 4096} {
				base := res.get(g.key, bdbName(size, threads[0]), n)
				for _, t := range threads[1:] {
					row = append(row, ratio(summarize(ratios(res.get(g.key, bdbName(size, t), n), base))))
				}
			}
			tableRow(md, row...)
		}
		fmt.Fprintln(md)
	}

	var lines []string
	for _, n := range names {
		c := summarize(cpu.get(g.key, "cpu", n))
		if c.N == 0 {
			continue
		}
		r := summarize(cpu.get(g.key, "rss", n))
		lines = append(lines, fmt.Sprintf("- %s: %.1f s CPU (%.1f–%.1f), peak RSS %.0f MiB\n", n, c.Med, c.Min, c.Max, r.Med))
	}
	if len(lines) > 0 {
		fmt.Fprintf(md, "Mount process: CPU seconds per round of all workloads, and peak RSS (MiB):\n\n%s\n", strings.Join(lines, ""))
	}
}

func suffix(names []string, s string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + s
	}
	return out
}
