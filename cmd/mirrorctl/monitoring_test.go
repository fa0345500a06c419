package main

// The alert rules (dist/prometheus) and the dashboard (dist/grafana) are part of what the mount
// exports: these tests run promtool on the rules and keep every metric name they use true to the
// endpoint's registry.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/mirrorctl/mirrorctl/internal/testenv"
	"github.com/mirrorctl/mirrorctl/mirror"
)

const (
	rulesFile     = "../../dist/prometheus/mirrorctl.rules.yml"
	rulesTestFile = "../../dist/prometheus/mirrorctl.rules_test.yml"
	dashboardFile = "../../dist/grafana/mirrorctl-dashboard.json"
	metricsDoc    = "../../docs/metrics.md"
	readmeFile    = "../../README.md"
)

// monitoringExtraMetrics are names the rules and dashboard may use that the registry does not
// export (yet).
var monitoringExtraMetrics = []string{}

// exportedMetrics returns the endpoint's metric families by name, read from its registry while the
// mirror is degraded and an archive is pushed to (some gauges exist only then), plus
// monitoringExtraMetrics as counters.
func exportedMetrics(t *testing.T) map[string]string {
	t.Helper()
	degraded := func() metricsSnapshot {
		return metricsSnapshot{State: "degraded", DegradedSince: time.Now(), DegradedPaths: 1, Archive: &archive.PusherStatus{},
			Stats: mirror.Stats{PrimaryLost: &mirror.PrimaryLoss{At: time.Now()}, Failovers: 1}, Engine: "bdb", SinceCheckpoint: new(int64)}
	}
	families, err := metricsRegistry(degraded).Gather()
	if err != nil {
		t.Fatalf("gather the endpoint's metrics: %v", err)
	}
	names := map[string]string{} // name: type, COUNTER, GAUGE, HISTOGRAM, ...
	for _, f := range families {
		names[f.GetName()] = f.GetType().String()
	}
	for _, n := range monitoringExtraMetrics {
		names[n] = "COUNTER"
	}
	return names
}

// metricNameRE finds the names of the endpoint's metrics in rules and dashboards (up, Prometheus's
// own, is not one of them).
var metricNameRE = regexp.MustCompile(`\b(?:mirrorctl|process|go)_[a-z0-9_]+`)

// unknownMetrics returns the metric names in text that the endpoint does not export; a histogram's
// or summary's _bucket, _sum and _count series count as the metric's.
func unknownMetrics(text string, exported map[string]string) []string {
	seen := map[string]bool{}
	var unknown []string
	for _, name := range metricNameRE.FindAllString(text, -1) {
		if seen[name] {
			continue
		}
		seen[name] = true
		if _, ok := exported[name]; ok {
			continue
		}
		known := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, cut := strings.CutSuffix(name, suffix)
			typ, ok := exported[base]
			if cut && ok && (typ == "HISTOGRAM" || typ == "SUMMARY") {
				known = true
			}
		}
		if !known {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	return unknown
}

func TestMonitoring_MetricNamesExist(t *testing.T) {
	exported := exportedMetrics(t)
	for _, file := range []string{rulesFile, rulesTestFile, dashboardFile, metricsDoc} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if names := metricNameRE.FindAllString(string(b), -1); len(names) == 0 {
			t.Errorf("%s names no metric of the endpoint: the check below would pass for nothing", file)
		}
		if unknown := unknownMetrics(string(b), exported); len(unknown) > 0 {
			t.Errorf("%s uses metrics the endpoint does not export: %s (see cmd/mirrorctl/metrics.go)", file, strings.Join(unknown, ", "))
		}
	}
}

// TestMonitoring_EveryMetricDocumented: docs/metrics.md names every mirrorctl_ metric the endpoint
// exports (the allowed extras are documented where they are exported).
func TestMonitoring_EveryMetricDocumented(t *testing.T) {
	b, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	for name := range exportedMetrics(t) {
		if slices.Contains(monitoringExtraMetrics, name) {
			continue
		}
		if strings.HasPrefix(name, "mirrorctl_") && !strings.Contains(string(b), "`"+name) {
			t.Errorf("%s does not describe the metric %s", metricsDoc, name)
		}
	}
}

func TestMonitoring_UnknownMetricsTable(t *testing.T) {
	exported := map[string]string{"mirrorctl_a": "HISTOGRAM", "mirrorctl_b_total": "COUNTER"}
	for _, tc := range []struct {
		text string
		want []string
	}{
		{`rate(mirrorctl_a_bucket[5m]) + mirrorctl_a_sum / mirrorctl_a_count`, nil},
		{`rate(mirrorctl_b_total[5m]) and up{job="mirrorctl"}`, nil},
		{`mirrorctl_b_total_bucket + mirrorctl_c`, []string{"mirrorctl_b_total_bucket", "mirrorctl_c"}},
		{`process_resident_memory_bytes`, []string{"process_resident_memory_bytes"}},
	} {
		got := unknownMetrics(tc.text, exported)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("unknownMetrics(%q) = %v; want %v", tc.text, got, tc.want)
		}
	}
}

// TestAlertRules_Promtool checks the rules and runs their unit tests with the real promtool.
// lookPromtool returns promtool's path, or skips (fails under MIRRORCTL_REQUIRE_ALL=1) without it.
func lookPromtool(t *testing.T) string {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testenv.SkipOrFail(t, "promtool is not on $PATH: install Debian's prometheus package (make deps)")
	}
	return promtool
}

func TestAlertRules_Promtool(t *testing.T) {
	promtool := lookPromtool(t)
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

var (
	alertLineRE     = regexp.MustCompile(`^\s*- alert: (\S+)$`)
	groupLineRE     = regexp.MustCompile(`^\s*- name: `)
	severityLineRE  = regexp.MustCompile(`^\s+severity: (critical|warning)$`)
	testAlertLineRE = regexp.MustCompile(`^\s+alertname: (\S+)$`)
)

// alertBlocks returns each alert of the rules file with its lines, in order.
func alertBlocks(t *testing.T) (names []string, blocks map[string][]string) {
	t.Helper()
	blocks = map[string][]string{}
	current := ""
	for _, line := range readLines(t, rulesFile) {
		if m := alertLineRE.FindStringSubmatch(line); m != nil {
			current = m[1]
			if _, dup := blocks[current]; dup {
				t.Errorf("%s: alert %s is defined twice", rulesFile, current)
			}
			names = append(names, current)
			blocks[current] = nil
			continue
		}
		if groupLineRE.MatchString(line) {
			current = ""
		}
		if current != "" {
			blocks[current] = append(blocks[current], line)
		}
	}
	return names, blocks
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	return lines
}

// TestAlertRules_EveryAlertIsExplainedAndTested: every alert has a severity, a summary and a
// description, and the unit tests make it fire at least once and stay quiet at least once.
func TestAlertRules_EveryAlertIsExplainedAndTested(t *testing.T) {
	names, blocks := alertBlocks(t)
	if len(names) == 0 {
		t.Fatalf("%s defines no alert", rulesFile)
	}
	for _, name := range names {
		text := strings.Join(blocks[name], "\n")
		has := func(re string) bool { return regexp.MustCompile(`(?m)` + re).MatchString(text) }
		if !has(severityLineRE.String()) {
			t.Errorf("alert %s has no severity label critical or warning", name)
		}
		for _, a := range []string{"summary", "description"} {
			if !has(`^\s+` + a + `: "[^"]{10,}`) {
				t.Errorf("alert %s has no %s annotation", name, a)
			}
		}
		if !has(`mirrorctl (status|resync|promote|unmount)`) {
			t.Errorf("alert %s names no mirrorctl command to run", name)
		}
	}

	fires, quiet := map[string]int{}, map[string]int{}
	lines := readLines(t, rulesTestFile)
	for i, line := range lines {
		m := testAlertLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, ok := blocks[m[1]]; !ok {
			t.Errorf("%s:%d tests alert %s, which the rules do not define", rulesTestFile, i+1, m[1])
		}
		if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "exp_alerts: []" {
			quiet[m[1]]++
		} else {
			fires[m[1]]++
		}
	}
	for _, name := range names {
		if fires[name] == 0 || quiet[name] == 0 {
			t.Errorf("%s: alert %s has %d cases where it fires and %d where it stays quiet; want both", rulesTestFile, name, fires[name], quiet[name])
		}
	}
}

var alertTableRE = regexp.MustCompile("(?m)^\\| `(Mirrorctl[A-Za-z]+)`")

// TestAlertRules_TablesMatchTheRules: the alert tables of the README and docs/metrics.md list
// exactly the alerts of the rules file.
func TestAlertRules_TablesMatchTheRules(t *testing.T) {
	names, _ := alertBlocks(t)
	sort.Strings(names)
	for _, doc := range []string{readmeFile, metricsDoc} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, m := range alertTableRE.FindAllStringSubmatch(string(b), -1) {
			listed = append(listed, m[1])
		}
		sort.Strings(listed)
		if fmt.Sprint(listed) != fmt.Sprint(names) {
			t.Errorf("%s's alert table lists %v; the rules define %v", doc, listed, names)
		}
	}
}

// grafanaPanel is the part of a dashboard panel the checks read; rows hold their panels when collapsed.
type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// grafanaDashboard is the part of the dashboard the checks read.
type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

// readDashboard returns the dashboard and its panels, those inside rows included, in order.
func readDashboard(t *testing.T) (grafanaDashboard, []grafanaPanel) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	var all []grafanaPanel
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, all
}

// TestDashboard_Valid: the dashboard is JSON Grafana imports, with a data source and an instance
// variable, and every panel has a unique id, a title and queries on the chosen data source.
func TestDashboard_Valid(t *testing.T) {
	d, panels := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("dashboard uid %q, title %q, schemaVersion %d; want a uid, a title and schemaVersion 36 or later", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["instance"] != "query" {
		t.Errorf("dashboard variables %v; want datasource (a data source) and instance (a query)", vars)
	}
	ids := map[int]string{}
	queries := 0
	for _, p := range panels {
		if p.Title == "" {
			t.Errorf("panel id %d (%s) has no title", p.ID, p.Type)
		}
		if p.ID <= 0 {
			t.Errorf("panel %q has no id", p.Title)
		} else if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type != "row" && (p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0) {
			t.Errorf("panel %q: want queries on the data source ${datasource}", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if strings.TrimSpace(q.Expr) == "" || q.Datasource == nil || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a query without an expression or not on ${datasource}", p.Title)
			}
			if strings.Contains(q.Expr, "mirrorctl_") && !strings.Contains(q.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: query %q ignores the instance variable", p.Title, q.Expr)
			}
		}
	}
	if queries == 0 {
		t.Errorf("%s has no query", dashboardFile)
	}
}

// TestDashboard_QueriesParse has promtool parse every query of the dashboard, with Grafana's
// variables replaced by values, as recording rules.
func TestDashboard_QueriesParse(t *testing.T) {
	promtool := lookPromtool(t)
	_, panels := readDashboard(t)
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$instance", ".+")
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for _, p := range panels {
		for _, q := range p.Targets {
			rules = append(rules, rule{fmt.Sprintf("dashboard:panel%d_%s", p.ID, q.RefID), vars.Replace(q.Expr)})
		}
	}
	// JSON is YAML: promtool reads the rule file as it is.
	b, err := json.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard.rules.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboard's %d queries: %v\n%s", len(rules), err, out)
	}
}
