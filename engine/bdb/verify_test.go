package bdb

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeDatabase writes a btree database of n records with db_load.
func makeDatabase(t *testing.T, b *BDB, dir, name string, n int) {
	t.Helper()
	load := strings.Replace(b.tools.Verify, "verify", "load", 1)
	var in strings.Builder
	for i := 0; i < n; i++ {
		in.WriteString(strings.Repeat("k", 1+i%7) + string(rune('a'+i%26)) + "\n" + strings.Repeat("v", 200) + "\n")
	}
	cmd := exec.Command(load, "-T", "-t", "btree", filepath.Join(dir, name))
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", load, err, out)
	}
}

// Verify checks every database, in parallel, and names the first that does not verify.
func TestVerify_FindsTheDamagedDatabase(t *testing.T) {
	b, err := New("")
	if err != nil || b.Available() != nil {
		if os.Getenv("MIRRORCTL_REQUIRE_ALL") == "1" {
			t.Fatalf("Berkeley DB utilities: %v %v", err, b.Available())
		}
		t.Skip("Berkeley DB utilities not installed (make deps installs db-util)")
	}
	dir := t.TempDir()
	for _, name := range []string{"a.db", "b.db", "c.db", "d.db"} {
		makeDatabase(t, b, dir, name, 500)
	}
	if err := b.Verify(context.Background(), dir); err != nil {
		t.Fatalf("four good databases: %v", err)
	}
	// Damage a page in the middle of c.db (its metadata page stays intact, so it is still found).
	p := filepath.Join(dir, "c.db")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	junk := []byte(strings.Repeat("\xff", 512))
	for off := int64(4096); off+512 <= st.Size(); off += 4096 {
		f.WriteAt(junk, off)
	}
	f.Close()
	err = b.Verify(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "c.db") {
		t.Fatalf("a damaged c.db: Verify said %v", err)
	}
}
