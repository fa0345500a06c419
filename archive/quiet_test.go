package archive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/engine/sqlite"
	"github.com/mirrorctl/mirrorctl/meta"
)

func writeTestFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStampFiles_SeesEveryChange: the stamps that tell a quiet mirror from a changing one differ
// after every kind of change a mirror's files see (a write of the same size, a create, a removal, a
// rename over a file), and not after a read; regions and the metadata area are not stamped.
func TestStampFiles_SeesEveryChange(t *testing.T) {
	eng := sqlite.New()
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
		same   bool
	}{
		{name: "read only", same: true, change: func(t *testing.T, dir string) {
			if _, err := os.ReadFile(filepath.Join(dir, "app.db")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "write of the same size", change: func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "app.db"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("X"), 3)
			f.Close()
		}},
		{name: "a journal created", change: func(t *testing.T, dir string) { writeTestFile(t, filepath.Join(dir, "app.db-journal"), "j") }},
		{name: "the WAL removed", change: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "app.db-wal")) }},
		{name: "renamed over", change: func(t *testing.T, dir string) {
			writeTestFile(t, filepath.Join(dir, "new"), "database")
			os.Rename(filepath.Join(dir, "new"), filepath.Join(dir, "app.db"))
		}},
		{name: "the WAL index (a region)", same: true, change: func(t *testing.T, dir string) { writeTestFile(t, filepath.Join(dir, "app.db-shm"), "shm2") }},
		{name: "the metadata area", same: true, change: func(t *testing.T, dir string) { writeTestFile(t, filepath.Join(dir, meta.Dir, "x"), "y") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTestFile(t, filepath.Join(dir, "app.db"), "database")
			writeTestFile(t, filepath.Join(dir, "app.db-wal"), "wal")
			writeTestFile(t, filepath.Join(dir, "app.db-shm"), "shm")
			before, err := stampFiles(eng, dir)
			if err != nil || len(before) != 2 {
				t.Fatalf("stamps %+v, %v; want app.db and its WAL", before, err)
			}
			tc.change(t, dir)
			after, err := stampFiles(eng, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := sameStamps(before, after); got != tc.same {
				t.Fatalf("same stamps = %v after the change, want %v:\n%+v\n%+v", got, tc.same, before, after)
			}
		})
	}
}

// TestQuietCopy_WaitsForAStill: a directory that keeps still is copied (byte for byte, regions
// left out); one written every few milliseconds is never copied, and the error says the mirror never
// kept still; one whose writes stop is copied once they have.
func TestQuietCopy_WaitsForAStill(t *testing.T) {
	eng := sqlite.New()
	for _, tc := range []struct {
		name     string
		writeFor time.Duration // a writer changes app.db this long (0: never; -1: until the end)
		every    time.Duration // how often it writes (default 3ms)
		size     int           // app.db's size (default a few bytes)
		wantBusy bool
		patience time.Duration
	}{
		{name: "still", patience: time.Second},
		{name: "writes that stop", writeFor: 300 * time.Millisecond, patience: 5 * time.Second},
		{name: "writes that never stop", writeFor: -1, wantBusy: true, patience: 500 * time.Millisecond},
		// Each write comes after the file kept still for longer than the margin, but during the copy
		// of a file that takes longer to copy than the stillness left: only the stat after the copy
		// sees it.
		{name: "a write during every copy", writeFor: -1, every: quietMargin + 4*time.Millisecond, size: 128 << 20, wantBusy: true, patience: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
			writeTestFile(t, filepath.Join(src, "app.db"), "database")
			if tc.size > 0 {
				if err := os.Truncate(filepath.Join(src, "app.db"), int64(tc.size)); err != nil {
					t.Fatal(err)
				}
			}
			writeTestFile(t, filepath.Join(src, "app.db-shm"), "shm")
			every := tc.every
			if every == 0 {
				every = 3 * time.Millisecond
			}
			stop, done := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				if tc.writeFor == 0 {
					return
				}
				end := time.Now().Add(tc.writeFor)
				for i := 0; tc.writeFor < 0 || time.Now().Before(end); i++ {
					select {
					case <-stop:
						return
					case <-time.After(every):
					}
					if f, err := os.OpenFile(filepath.Join(src, "app.db"), os.O_WRONLY, 0); err == nil {
						f.WriteAt([]byte(time.Now().String()), 0)
						f.Close()
					}
				}
			}()
			start := time.Now()
			stamps, _, to, err := quietCopy(context.Background(), eng, src, dst, tc.patience)
			close(stop)
			<-done
			if tc.wantBusy {
				if !errors.Is(err, ErrBusy) {
					t.Fatalf("a copy of a directory written all along: %v, want ErrBusy", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.writeFor > 0 && to.Sub(start) < tc.writeFor {
				t.Fatalf("copied %s after the start, while the writer still wrote (for %s)", to.Sub(start), tc.writeFor)
			}
			got, err := os.ReadFile(filepath.Join(dst, "app.db"))
			want, _ := os.ReadFile(filepath.Join(src, "app.db"))
			if err != nil || string(got) != string(want) || len(stamps) != 1 {
				t.Fatalf("copy %q (%v), source %q, stamps %+v", got, err, want, stamps)
			}
			if _, err := os.Stat(filepath.Join(dst, "app.db-shm")); err == nil {
				t.Fatal("the region was copied")
			}
		})
	}
}

// TestWholeFrames_Table: a WAL read while a frame was written is cut to its whole frames; what is
// not a WAL is left alone.
func TestWholeFrames_Table(t *testing.T) {
	wal := func(page uint32, n int) []byte {
		b := make([]byte, n)
		copy(b, []byte{0x37, 0x7f, 0x06, 0x82})
		b[8], b[9], b[10], b[11] = byte(page>>24), byte(page>>16), byte(page>>8), byte(page)
		return b
	}
	frame := 24 + 4096
	for _, tc := range []struct {
		name string
		b    []byte
		want int
	}{
		{name: "header only", b: wal(4096, 32), want: 32},
		{name: "two frames", b: wal(4096, 32+2*frame), want: 32 + 2*frame},
		{name: "a frame being written", b: wal(4096, 32+2*frame+100), want: 32 + 2*frame},
		{name: "64 KiB pages", b: wal(1, 32+(24+65536)+5), want: 32 + 24 + 65536},
		{name: "not a WAL", b: []byte("not a write-ahead log at all, just bytes"), want: 40},
		{name: "short", b: []byte{1, 2}, want: 2},
	} {
		if got := len(wholeFrames(tc.b)); got != tc.want {
			t.Errorf("%s: %d bytes kept, want %d", tc.name, got, tc.want)
		}
	}
}
