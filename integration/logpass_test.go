package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// logName is a Berkeley DB log file name: the engine's logs are what log passthrough serves.
const logName = "log.0000000001"

// mirrorHas tells whether the mirror's copy of rel holds exactly what the primary's does.
func mirrorHas(t *testing.T, primary, mirrorDir, rel string) bool {
	t.Helper()
	p, err := os.ReadFile(filepath.Join(primary, rel))
	if err != nil {
		t.Fatal(err)
	}
	q, err := os.ReadFile(filepath.Join(mirrorDir, rel))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return bytes.Equal(p, q)
}

func openLog(t *testing.T, mp string, flags int) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(mp, logName), flags, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func pwrite(t *testing.T, f *os.File, s string, off int64) {
	t.Helper()
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		t.Fatal(err)
	}
}

// TestLogPassthrough checks that the kernel writes a log directly (the mirror does not have a write
// before the log's fsync: no WRITE reached the daemon) and that every way of making it durable, or
// of closing it, gives the mirror every byte first.
func TestLogPassthrough(t *testing.T) {
	needFUSE(t)
	setup := func(t *testing.T, extra ...string) (primary, mirrorDir, mp string, m *Mount) {
		primary, mirrorDir, mp = dirs(t)
		m = startMount(t, primary, mirrorDir, mp, extra...)
		return
	}
	record := strings.Repeat("r", 300)

	t.Run("the kernel writes the log; fsync captures it", func(t *testing.T) {
		primary, mirrorDir, mp, m := setup(t)
		f := openLog(t, mp, os.O_RDWR|os.O_CREATE)
		pwrite(t, f, record, 0)
		if mirrorHas(t, primary, mirrorDir, logName) {
			t.Fatal("the mirror has a log write before any fsync: the write went through the daemon, not by passthrough")
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			t.Fatal(err)
		}
		if !mirrorHas(t, primary, mirrorDir, logName) {
			t.Fatal("after fdatasync returned, the mirror lacks the log's bytes")
		}
		// Appends across blocks, then fsync.
		pwrite(t, f, strings.Repeat("a", 9000), 300)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if !mirrorHas(t, primary, mirrorDir, logName) {
			t.Fatal("after fsync returned, the mirror lacks appended bytes")
		}
		// The mount's own passthrough writes are not foreign writes.
		if s := foreignOf(t, mp); s.Stats.ForeignWrites != 0 || s.Degraded != nil {
			t.Errorf("passthrough log writes were taken for foreign writes: %+v", s)
		}
		_ = m
	})

	t.Run("a log preallocated to its full size, as Berkeley DB makes them", func(t *testing.T) {
		primary, mirrorDir, mp, _ := setup(t)
		f := openLog(t, mp, os.O_RDWR|os.O_CREATE)
		pwrite(t, f, "\x00", 1<<20-1) // its last byte first: the size says nothing of what was written
		for i, off := 0, int64(0); i < 20; i++ {
			rec := strings.Repeat(string(rune('a'+i)), 100+i*97)
			pwrite(t, f, rec, off)
			off += int64(len(rec))
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				t.Fatal(err)
			}
			if !mirrorHas(t, primary, mirrorDir, logName) {
				t.Fatalf("after commit %d of a preallocated log, the mirror's log differs from the primary's", i)
			}
		}
	})

	t.Run("one round trip per commit", func(t *testing.T) {
		primary, mirrorDir, mp, m := setup(t, "--debug")
		f := openLog(t, mp, os.O_WRONLY|os.O_CREATE) // write-only, as an engine may open its log
		const commits = 50
		for i := 0; i < commits; i++ {
			pwrite(t, f, fmt.Sprintf("record %d\n", i), int64(i)*10)
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		m.Stop(t)
		out := m.Output()
		count := func(re string) int { return len(regexp.MustCompile(re).FindAllString(out, -1)) }
		if n := count(`rx \d+: FSYNC `); n < commits {
			t.Fatalf("the debug log shows %d FSYNC requests; want at least %d (is --debug logging requests?)", n, commits)
		}
		if n := count(`rx \d+: WRITE `); n != 0 {
			t.Errorf("%d commits sent %d WRITE requests; want none (the kernel writes the log itself)", commits, n)
		}
		if n := count(`rx \d+: GETXATTR .*"security.capability"`); n > 1 {
			t.Errorf("%d commits sent %d GETXATTR security.capability requests; want at most 1", commits, n)
		}
		if !mirrorHas(t, primary, mirrorDir, logName) {
			t.Error("after the commits, the mirror's log differs from the primary's")
		}
	})

	t.Run("fsync through a read-only descriptor", func(t *testing.T) {
		primary, mirrorDir, mp, _ := setup(t)
		w := openLog(t, mp, os.O_RDWR|os.O_CREATE)
		r := openLog(t, mp, os.O_RDONLY)
		pwrite(t, w, record, 0)
		if err := unix.Fsync(int(r.Fd())); err != nil {
			t.Fatal(err)
		}
		if !mirrorHas(t, primary, mirrorDir, logName) {
			t.Fatal("after fsync through a reader returned, the mirror lacks the log's bytes")
		}
	})

	t.Run("truncate, then append past the old end", func(t *testing.T) {
		primary, mirrorDir, mp, _ := setup(t)
		f := openLog(t, mp, os.O_RDWR|os.O_CREATE)
		pwrite(t, f, strings.Repeat("a", 5000), 0)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(100); err != nil {
			t.Fatal(err)
		}
		pwrite(t, f, strings.Repeat("b", 6000), 100)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if !mirrorHas(t, primary, mirrorDir, logName) {
			t.Fatal("after a truncate and an append, the mirror's log differs from the primary's")
		}
	})

	t.Run("close without fsync", func(t *testing.T) {
		// The mirror has it when close returns (FLUSH), not only once RELEASE arrives.
		primary, mirrorDir, mp, _ := setup(t)
		f := openLog(t, mp, os.O_RDWR|os.O_CREATE)
		pwrite(t, f, record, 0)
		// Another descriptor keeps the file open, so no RELEASE comes: only FLUSH can have copied it.
		keep := openLog(t, mp, os.O_RDONLY)
		f.Close()
		if !mirrorHas(t, primary, mirrorDir, logName) {
			t.Fatal("after close returned, the mirror lacks the log's bytes")
		}
		keep.Close()
	})

	t.Run("O_DSYNC opens go through the daemon", func(t *testing.T) {
		primary, mirrorDir, mp, _ := setup(t)
		f := openLog(t, mp, os.O_RDWR|os.O_CREATE|syscall.O_DSYNC)
		pwrite(t, f, record, 0)
		if !mirrorHas(t, primary, mirrorDir, logName) {
			t.Fatal("an O_DSYNC write to a log returned before it was on the mirror")
		}
	})

	t.Run("an O_DSYNC writer beside passthrough opens is refused", func(t *testing.T) {
		_, _, mp, _ := setup(t)
		openLog(t, mp, os.O_RDWR|os.O_CREATE)
		_, err := os.OpenFile(filepath.Join(mp, logName), os.O_RDWR|syscall.O_DSYNC, 0)
		if !errors.Is(err, syscall.ETXTBSY) {
			t.Fatalf("O_DSYNC open beside a passthrough writer: %v, want ETXTBSY", err)
		}
	})

	t.Run("--log-passthrough=false writes through the daemon", func(t *testing.T) {
		primary, mirrorDir, mp, _ := setup(t, "--log-passthrough=false")
		f := openLog(t, mp, os.O_RDWR|os.O_CREATE)
		pwrite(t, f, record, 0)
		if !mirrorHas(t, primary, mirrorDir, logName) {
			t.Fatal("with --log-passthrough=false a log write returned before it was on the mirror")
		}
	})

	t.Run("other files are not served by passthrough", func(t *testing.T) {
		primary, mirrorDir, mp, _ := setup(t)
		f, err := os.OpenFile(filepath.Join(mp, "a.db"), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		pwrite(t, f, record, 0)
		if !mirrorHas(t, primary, mirrorDir, "a.db") {
			t.Fatal("a database write returned before it was on the mirror")
		}
	})
}
