package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// refusalRow is one row of the README's refusal table.
type refusalRow struct {
	what, command string
	code          int
	says          string
}

// readmeRefusals reads the refusal table of the README's "Scripting it" section.
func readmeRefusals(t *testing.T) []refusalRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| refused | command | exit | the line says |")
	if !ok {
		t.Fatal("README.md has no refusal table (| refused | command | exit | the line says |)")
	}
	var rows []refusalRow
	for _, line := range strings.Split(table, "\n")[2:] {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Fatalf("README refusal row %q: want 4 cells", line)
		}
		code, err := strconv.Atoi(strings.TrimSpace(cells[2]))
		if err != nil {
			t.Fatalf("README refusal row %q: exit %q", line, cells[2])
		}
		unquote := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
		rows = append(rows, refusalRow{strings.TrimSpace(cells[0]), unquote(cells[1]), code, unquote(cells[3])})
	}
	if len(rows) < 10 {
		t.Fatalf("README's refusal table has %d rows; it lists more than that", len(rows))
	}
	return rows
}

// TestREADME_RefusalTable runs every row of the README's refusal table: the exit status and the words
// it gives are the program's, the message is one line, and no tree changes.
func TestREADME_RefusalTable(t *testing.T) {
	needBDB(t)
	base := t.TempDir()
	at := func(name string) string { return filepath.Join(base, name) }
	places := map[string]string{
		"P": at("primary"), "M": at("mirror"), "OTHER": at("other"), "MP": at("mnt"), "FILE": at("file"),
		"EMPTY": at("empty"), "FULL": at("full"), "LINK": at("link"), "NEW": at("new"), "MIXED": at("mixed"),
	}
	for _, d := range []string{"P", "OTHER", "MP", "EMPTY", "FULL", "MIXED"} {
		if err := os.Mkdir(places[d], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, places["FILE"], "a file")
	writeFile(t, filepath.Join(places["FULL"], "notes.txt"), "the user's")
	writeFile(t, filepath.Join(places["MIXED"], "DB_CONFIG"), "")     // Berkeley DB's
	writeFile(t, filepath.Join(places["MIXED"], "data.mdb"), "pages") // and LMDB's
	if err := os.Symlink(at("nowhere"), places["LINK"]); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"P", "OTHER"} {
		workloadRun(t, places[env], filepath.Join(t.TempDir(), "acked"), "--txns", "20")
	}
	mustRun(t, "sync", "--primary", places["P"], "--mirror", places["M"])
	mustRun(t, "sync", "--primary", places["OTHER"], "--mirror", at("other-mirror"))

	for _, row := range readmeRefusals(t) {
		t.Run(row.what, func(t *testing.T) {
			var args []string
			for _, tok := range strings.Fields(row.command) {
				name, rest, _ := strings.Cut(tok, "/")
				if p, ok := places[name]; ok {
					tok = filepath.Join(p, rest)
				} else if tok == `""` {
					tok = ""
				}
				args = append(args, tok)
			}
			before := snapshots(t, base)
			refused(t, row.code, args, row.says)
			sameSnapshot(t, "after mirrorctl "+row.command, before, snapshots(t, base))
		})
	}
}
