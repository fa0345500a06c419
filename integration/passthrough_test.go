package integration

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// servedByPassthrough tells whether reads through f bypass the daemon: it reads a page, changes those
// bytes in the primary's file behind the mount's back, and reads again at once. A passthrough read
// sees the new bytes; a page-cached read (through the daemon) still sees the old ones until the
// attribute timeout.
func servedByPassthrough(t *testing.T, f *os.File, primaryFile string, off int64) bool {
	t.Helper()
	buf := make([]byte, 16)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	mark := []byte(strings.Repeat("Z", 16))
	if bytes.Equal(buf, mark) {
		mark = []byte(strings.Repeat("Y", 16))
	}
	pf, err := os.OpenFile(primaryFile, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pf.WriteAt(mark, off); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(buf, mark)
}

// TestMount_PassthroughReads checks the open modes of --passthrough-reads: read-only opens are
// served by kernel passthrough when no writer has the file open, and never at the cost of a write
// that misses the mirror or an open that fails.
func TestMount_PassthroughReads(t *testing.T) {
	needFUSE(t)
	// servedByPassthrough probes by writing the primary directly, which the foreign-write watch
	// rightly reports, degrading the mirror; the watch is off here, so that what is tested is the
	// open modes alone (the watch has tests of its own).
	startMount := func(t *testing.T, primary, mirrorDir, mp string, extra ...string) *Mount {
		return startMount(t, primary, mirrorDir, mp, append(extra, "--watch-foreign=false")...)
	}
	content := strings.Repeat("a", 1<<16)
	t.Run("default mount: read-only opens go through the daemon", func(t *testing.T) {
		primary, mirrorDir, mp := dirs(t)
		m := startMount(t, primary, mirrorDir, mp)
		writeFile(t, filepath.Join(mp, "a.db"), content)
		ro, err := os.Open(filepath.Join(mp, "a.db"))
		if err != nil {
			t.Fatal(err)
		}
		if servedByPassthrough(t, ro, filepath.Join(primary, "a.db"), 4096) {
			t.Fatal("a read-only open used passthrough without --passthrough-reads")
		}
		ro.Close()
		m.ExpectDegraded = true // the file was changed behind the back on purpose
		m.Stop(t)
	})

	t.Run("read-only open without writers: passthrough", func(t *testing.T) {
		primary, mirrorDir, mp := dirs(t)
		m := startMount(t, primary, mirrorDir, mp, "--passthrough-reads")
		writeFile(t, filepath.Join(mp, "a.db"), content)
		// The kernel sends the writer's RELEASE asynchronously after close: until the daemon has it,
		// it counts the writer and (safely) answers a read-only open with the page cache.
		i := 0
		eventually(t, 10*time.Second, "a read-only open with no writer to be served by passthrough", func() bool {
			ro, err := os.Open(filepath.Join(mp, "a.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			off := int64(4096 * (1 + i%8))
			i++
			return servedByPassthrough(t, ro, filepath.Join(primary, "a.db"), off)
		})
		m.ExpectDegraded = true
		m.Stop(t)
	})

	t.Run("read-only open while a writer has it open: page cache, no EIO", func(t *testing.T) {
		primary, mirrorDir, mp := dirs(t)
		m := startMount(t, primary, mirrorDir, mp, "--passthrough-reads")
		p := filepath.Join(mp, "a.db")
		writeFile(t, p, content)
		rw, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer rw.Close()
		mem, err := syscall.Mmap(int(rw.Fd()), 0, 1<<16, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			t.Fatalf("shared mmap of a file open for writing: %v", err)
		}
		ro, err := os.Open(p)
		if err != nil {
			t.Fatalf("read-only open while a writer has the file open: %v", err)
		}
		defer ro.Close()
		if servedByPassthrough(t, ro, filepath.Join(primary, "a.db"), 8192) {
			t.Fatal("a read-only open mixed passthrough with a cached writer")
		}
		copy(mem[100:], "through the mapping")
		if err := msync(mem); err != nil {
			t.Fatal(err)
		}
		syscall.Munmap(mem)
		got, _ := os.ReadFile(filepath.Join(mirrorDir, "a.db"))
		if !bytes.Contains(got, []byte("through the mapping")) {
			t.Error("a write through the shared mapping did not reach the mirror")
		}
		m.ExpectDegraded = true
		ro.Close()
		rw.Close()
		m.Stop(t)
	})

	t.Run("writer opens while a passthrough reader has it open: refused with ETXTBSY, nothing changed", func(t *testing.T) {
		primary, mirrorDir, mp := dirs(t)
		m := startMount(t, primary, mirrorDir, mp, "--passthrough-reads")
		p := filepath.Join(mp, "a.db")
		writeFile(t, p, content)
		var ro *os.File
		i := 0
		// Until the writer's RELEASE reached the daemon (see above).
		eventually(t, 10*time.Second, "a read-only open served by passthrough", func() bool {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			off := int64(4096 * (1 + i%8))
			i++
			if servedByPassthrough(t, f, filepath.Join(primary, "a.db"), off) {
				ro = f
				return true
			}
			f.Close()
			return false
		})
		defer ro.Close()
		m.ExpectDegraded = true // servedByPassthrough changed the primary behind the back
		_, err := os.OpenFile(p, os.O_RDWR, 0)
		if !errors.Is(err, syscall.ETXTBSY) {
			t.Fatalf("open for writing while a passthrough reader holds the file: %v, want ETXTBSY (the kernel would say EIO)", err)
		}
		if !strings.Contains(m.Output(), "passthrough") {
			t.Errorf("the refusal was not logged:\n%s", m.Output())
		}
		ro.Close()
		// Once the readers are gone (their RELEASE reached the daemon), writers open and map as usual.
		var rw *os.File
		eventually(t, 10*time.Second, "an open for writing to stop failing with ETXTBSY once the reader closed", func() bool {
			if rw, err = os.OpenFile(p, os.O_RDWR, 0); err != nil && !errors.Is(err, syscall.ETXTBSY) {
				t.Fatal(err)
			}
			return err == nil
		})
		defer rw.Close()
		writeShared(t, rw, 4096, 16, "remapped") // after the readers closed
		rw.Close()
		if got, _ := os.ReadFile(filepath.Join(mirrorDir, "a.db")); !bytes.Contains(got, []byte("remapped")) {
			t.Error("a write through a shared mapping did not reach the mirror")
		}
		m.Stop(t)
	})
}

// TestMount_PageCacheKeptAcrossOpens: every change to the primary comes through the mount, so the
// kernel keeps a file's cached pages when it is opened again and when its mtime changes; reads of a
// file written a moment ago are then served from memory, not by a round trip each. Shown with a byte
// changed behind the mount's back (which the mount does not support): a reopened file still reads
// the cached page.
func TestMount_PageCacheKeptAcrossOpens(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	m.ExpectDegraded = true
	p := filepath.Join(mp, "a.db")
	writeFile(t, p, strings.Repeat("a", 1<<16))
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if _, err := f.ReadAt(buf, 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pf, err := os.OpenFile(filepath.Join(primary, "a.db"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	pf.WriteAt([]byte(strings.Repeat("Z", 16)), 4096)
	pf.Close()
	changed, err := os.Stat(filepath.Join(primary, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a getattr through the mount to see the new mtime (past the attribute timeout)", func() bool {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.ModTime().Equal(changed.ModTime())
	})
	f, err = os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Stat(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(buf, 4096); err != nil {
		t.Fatal(err)
	}
	if string(buf) != strings.Repeat("a", 16) {
		t.Fatalf("the reopened file was read from the primary (%q), not from the kept page cache", buf)
	}
}
