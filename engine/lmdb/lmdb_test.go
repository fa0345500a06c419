package lmdb

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/engine/lmdb/mdb"
)

func TestEngine_Classify(t *testing.T) {
	cases := []struct {
		rel  string
		want engine.Class
	}{
		{"data.mdb", engine.ClassDatabase},
		{"tenants/a/data.mdb", engine.ClassDatabase},
		{"lock.mdb", engine.ClassRegion},
		{"tenants/a/lock.mdb", engine.ClassRegion},
		{"data.mdb-old", engine.ClassOther},
		{"notes.txt", engine.ClassOther},
	}
	for _, c := range cases {
		if got := New().Classify(c.rel); got != c.want {
			t.Errorf("Classify(%q) = %s, want %s", c.rel, got, c.want)
		}
	}
}

// makeEnv makes an environment in dir with plain keys in the main database and n entries in each
// of the named databases, one commit per entry.
func makeEnv(t *testing.T, dir string, flags mdb.Flags, plain int, named []string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env, err := mdb.Open(dir, flags, 64<<20, len(named))
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	put := func(db string, k, v []byte) {
		txn, err := env.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		defer txn.Abort()
		dbi, err := txn.OpenDB(db, db != "")
		if err == nil {
			err = txn.Put(dbi, k, v)
		}
		if err == nil {
			err = txn.Commit()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < plain; i++ {
		put("", []byte(fmt.Sprintf("plain%05d", i)), []byte(strings.Repeat("p", 100)))
	}
	for _, db := range named {
		for i := 0; i < n; i++ {
			put(db, []byte(fmt.Sprintf("k%06d", i)), []byte(strings.Repeat("v", 5000))) // overflow pages
		}
	}
}

// TestEngine_RestartReadsEveryDatabase: the report counts every entry of the main database and of
// every named database, with and without MDB_WRITEMAP; lock.mdb is a region RemoveRegions removes;
// mdb_stat agrees on the pages.
func TestEngine_RestartReadsEveryDatabase(t *testing.T) {
	for _, c := range []struct {
		name  string
		flags mdb.Flags
	}{{"pwrite", 0}, {"writemap", mdb.WriteMap}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			makeEnv(t, filepath.Join(dir, "a"), c.flags, 30, []string{"accounts", "history"}, 40)
			makeEnv(t, filepath.Join(dir, "b"), c.flags, 5, nil, 0)
			removed, err := New().RemoveRegions(dir)
			if err != nil || strings.Join(removed, " ") != "a/lock.mdb b/lock.mdb" {
				t.Fatalf("RemoveRegions = %v, %v; want [a/lock.mdb b/lock.mdb]", removed, err)
			}
			r, err := New().Restart(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range r.Databases {
				got = append(got, fmt.Sprintf("%s entries=%d named=%d pages>1:%v txn>0:%v", d.File, d.Entries, d.SubDatabases, d.Pages > 1, d.TxnID > 0))
			}
			want := "a/data.mdb entries=110 named=2 pages>1:true txn>0:true, b/data.mdb entries=5 named=0 pages>1:true txn>0:true"
			if strings.Join(got, ", ") != want {
				t.Errorf("Restart reports %q, want %q", strings.Join(got, ", "), want)
			}
			if err := New().Verify(context.Background(), dir); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestEngine_RestartRefusesABrokenTree: a data.mdb whose tree points at pages it no longer has
// (its pages overwritten, the file cut short), or whose meta pages are gone, fails the restart and the
// verify, naming it; a file cut short is refused before a read past its end could fault.
func TestEngine_RestartRefusesABrokenTree(t *testing.T) {
	for _, c := range []struct {
		name   string
		break_ func(t *testing.T, p string)
	}{
		{"leaf pages overwritten", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			junk := []byte(strings.Repeat("\xa5", 4096))
			for off := int64(2 * 4096); off < st.Size(); off += 4096 {
				if _, err := f.WriteAt(junk, off); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"file cut short", func(t *testing.T, p string) {
			if err := os.Truncate(p, 5*4096); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta pages zeroed", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 2*4096), 0); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			makeEnv(t, filepath.Join(dir, "env"), 0, 200, []string{"accounts"}, 20)
			c.break_(t, filepath.Join(dir, "env", DataFile))
			_, err := New().Restart(context.Background(), dir)
			if err == nil || !strings.Contains(err.Error(), "env/data.mdb") {
				t.Errorf("Restart of a broken environment: %v; want an error naming env/data.mdb", err)
			}
			t.Logf("Restart: %v", err)
			if err := New().Verify(context.Background(), dir); err == nil {
				t.Error("Verify of a broken environment passed")
			}
		})
	}
}

// TestEngine_VerifyWritesNothing: Verify of an environment without lock.mdb makes none.
func TestEngine_VerifyWritesNothing(t *testing.T) {
	dir := t.TempDir()
	makeEnv(t, dir, 0, 10, nil, 0)
	if err := os.Remove(filepath.Join(dir, LockFile)); err != nil {
		t.Fatal(err)
	}
	if err := New().Verify(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); !os.IsNotExist(err) {
		t.Errorf("Verify made %s (%v)", LockFile, err)
	}
	if _, err := exec.LookPath("mdb_stat"); err == nil {
		out, err := exec.Command("mdb_stat", "-e", dir).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Entries: 10") {
			t.Errorf("mdb_stat of the environment: %v: %s", err, out)
		}
	}
}

// TestEngine_RestartTakesTheNewestMetaPage: a commit whose data pages reached data.mdb but whose
// meta page did not (a crash between the two syncs) is not there after the restart: the meta page
// with the newest transaction wins, and it names the commit before.
func TestEngine_RestartTakesTheNewestMetaPage(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env")
	makeEnv(t, env, 0, 0, []string{"accounts"}, 30)
	p := filepath.Join(env, DataFile)
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	makeEnv(t, env, 0, 0, []string{"accounts", "history"}, 1) // one more commit to each: two more transactions
	r, err := New().Restart(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	last := r.Databases[0]
	// Put both meta pages back as they were: the data pages of the new commits stay.
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(before[:2*4096], 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err = New().Restart(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Databases[0]
	if got.TxnID != last.TxnID-2 || got.Entries != 30 || got.SubDatabases != 1 {
		t.Errorf("after the meta pages were put back: transaction %d, %d entries in %d named databases; want transaction %d, 30 entries in 1 (before: %+v)",
			got.TxnID, got.Entries, got.SubDatabases, last.TxnID-2, last)
	}
}
