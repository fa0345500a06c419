package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

func TestMirror_SyncCopiesEverythingThenNothing(t *testing.T) {
	p := newPair(t, Options{})
	populate(t, p.primary)
	var progress []int64
	r := mustSync(t, p.m, SyncOptions{Progress: func(done, total int64) { progress = append(progress, done, total) }})
	// file, empty, a, a/b, a/b/c, a/b/c/deep, scratch, emptydir, link, a/dangling, a/fifo
	if r.Copied != 11 || r.Removed != 0 || r.BytesCopied != int64(len("content")+len("deep content")) {
		t.Errorf("first sync: %+v; want 11 entries and 19 bytes copied", r)
	}
	if len(progress) < 2 || progress[len(progress)-2] != 19 || progress[len(progress)-1] != 19 {
		t.Errorf("progress calls %v; want the last to report 19 of 19 bytes", progress)
	}
	requireClean(t, p.m)
	for rel, typ := range map[string]uint32{"a/fifo": unix.S_IFIFO, "link": unix.S_IFLNK, "emptydir": unix.S_IFDIR, "file": unix.S_IFREG} {
		pst, qst := lstat(t, p.P(rel)), lstat(t, p.Q(rel))
		if qst.Mode&unix.S_IFMT != typ || qst.Mode != pst.Mode || qst.Mtim != pst.Mtim {
			t.Errorf("%s: mirror mode %o mtime %v; primary %o %v", rel, qst.Mode, qst.Mtim, pst.Mode, pst.Mtim)
		}
	}
	if st := lstat(t, p.Q("a/b")); st.Mtim.Sec != 1_000_000 {
		t.Errorf("a/b: mirror mtime %v; want the primary's (a directory's times are set after its entries)", st.Mtim)
	}
	requireGone(t, p.Q("skip.excl"), p.Q("__db.001"), p.Q("scratch/x"), p.Q(meta.Dir+"/identity.json"))

	for _, full := range []bool{false, true} {
		r = mustSync(t, p.m, SyncOptions{Full: full})
		if r.BytesCopied != 0 || r.Copied != 0 || r.Removed != 0 {
			t.Errorf("sync (full=%v) of an equal mirror: %+v; want nothing copied or removed", full, r)
		}
		if full && r.BytesExamined != 19 {
			t.Errorf("full sync examined %d bytes; want 19", r.BytesExamined)
		}
	}
}

// Whether the first sync of a fresh mirror compares by metadata or by content, it copies every byte
// once; later, only a full sync finds a change that kept size and times, and copies one chunk of it.
func TestMirror_FullSyncCopiesOnlyTheChangedBlock(t *testing.T) {
	for _, first := range []SyncOptions{{}, {Full: true}} {
		t.Run(fmt.Sprintf("first sync full=%v", first.Full), func(t *testing.T) {
			p := newPair(t, Options{})
			data := make([]byte, 8<<20)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			writeFile(t, p.P("big"), data)
			writeFile(t, p.P("dir/small"), []byte("small"))
			if err := os.Symlink("dir/small", p.P("link")); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mkfifo(p.P("fifo"), 0o600); err != nil {
				t.Fatal(err)
			}
			writeFile(t, p.Q("extra"), []byte("stale"))
			const total = 8<<20 + int64(len("small"))
			if r := mustSync(t, p.m, first); r.BytesCopied != total || r.Removed != 1 {
				t.Fatalf("first sync: %+v; want %d bytes copied and the extra removed", r, total)
			}
			requireClean(t, p.m)
			if r := mustSync(t, p.m, SyncOptions{Full: true}); r.BytesCopied != 0 {
				t.Fatalf("a second full sync copied %d bytes; want none", r.BytesCopied)
			}

			st := lstat(t, p.P("big"))
			data[5<<20+3] ^= 0xff
			writeFile(t, p.P("big"), data)
			// Same size and times: only a full sync can tell.
			ts := []unix.Timespec{st.Atim, st.Mtim}
			if err := unix.UtimesNano(p.P("big"), ts); err != nil {
				t.Fatal(err)
			}
			if r := mustSync(t, p.m, SyncOptions{}); r.BytesCopied != 0 || r.Copied != 0 {
				t.Errorf("sync by metadata copied %+v; it must trust equal size and times", r)
			}
			diffs, err := p.m.Verify(context.Background(), VerifyOptions{})
			if err != nil || len(diffs) != 1 || diffs[0].Rel != "big" || !strings.Contains(diffs[0].What, "offset 5242880") {
				t.Errorf("Verify = %v, %v; want the content of big differing at offset 5242880", diffs, err)
			}
			r := mustSync(t, p.m, SyncOptions{Full: true})
			if r.BytesCopied != syncBlock || r.Copied != 1 || r.BytesExamined != total {
				t.Errorf("full sync: %+v; want exactly the one changed %d-byte block copied of %d bytes examined", r, syncBlock, total)
			}
			requireClean(t, p.m)

			// A change of size alone (a truncation to a chunk boundary) copies nothing but truncates.
			if err := os.Truncate(p.P("big"), 3<<20); err != nil {
				t.Fatal(err)
			}
			r = mustSync(t, p.m, SyncOptions{Full: true})
			if r.BytesCopied != 0 || r.Copied != 1 {
				t.Errorf("sync after truncation: %+v; want one entry changed and no byte copied", r)
			}
			requireClean(t, p.m)

			// An entry of another type on the mirror is replaced by a sync by metadata.
			if err := os.Remove(p.Q("dir/small")); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p.Q("dir/small"), 0o755); err != nil {
				t.Fatal(err)
			}
			mustSync(t, p.m, SyncOptions{})
			requireClean(t, p.m)
		})
	}
}

func TestMirror_SyncRemovesExtrasButKeepsKeptAndExcluded(t *testing.T) {
	p := newPair(t, Options{})
	writeFile(t, p.P("real"), []byte("r"))
	writeFile(t, p.P("scratch/other"), []byte("excluded on the primary too"))
	for _, rel := range []string{"extra", "extradir/sub/f", "keep.log", "kept/dir/f", "x.excl", "__db.002", "scratch/tmp", meta.Dir + "/mirror.json"} {
		writeFile(t, p.Q(rel), []byte(rel))
	}
	if err := os.Symlink("x", p.Q("extralink")); err != nil {
		t.Fatal(err)
	}
	keep := func(rel string) bool { return rel == "keep.log" || rel == "kept" }
	r := mustSync(t, p.m, SyncOptions{Keep: keep})
	if r.Removed != 3 {
		t.Errorf("sync removed %d entries; want 3 (extra, extradir, extralink)", r.Removed)
	}
	requireGone(t, p.Q("extra"), p.Q("extradir"), p.Q("extralink"))
	for _, rel := range []string{"keep.log", "kept/dir/f", "x.excl", "__db.002", "scratch/tmp", meta.Dir + "/mirror.json"} {
		requireContent(t, rel, p.Q(rel))
	}
	diffs, err := p.m.Verify(context.Background(), VerifyOptions{Keep: keep})
	if err != nil || len(diffs) != 0 {
		t.Errorf("Verify with the same Keep = %v, %v; want no difference", diffs, err)
	}
}

func TestMirror_SyncReplacesEntriesOfTheWrongType(t *testing.T) {
	p := newPair(t, Options{})
	// primary type -> what the mirror has under that name
	writeFile(t, p.P("was-dir"), []byte("now a file"))
	writeFile(t, p.Q("was-dir/inner/f"), []byte("old"))
	if err := os.Mkdir(p.P("was-file"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p.P("was-file/child"), []byte("c"))
	writeFile(t, p.Q("was-file"), []byte("old"))
	if err := os.Symlink("target", p.P("was-fifo")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(p.Q("was-fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(p.P("was-link"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", p.Q("was-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("new target", p.P("retargeted")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("old target", p.Q("retargeted")); err != nil {
		t.Fatal(err)
	}
	r := mustSync(t, p.m, SyncOptions{})
	if r.Removed != 4 {
		t.Errorf("sync removed %d entries of the wrong type; want 4", r.Removed)
	}
	requireClean(t, p.m)
	if got, _ := os.Readlink(p.Q("retargeted")); got != "new target" {
		t.Errorf("retargeted -> %q; want %q", got, "new target")
	}
}

// Sync is safe to re-run after an interruption.
func TestMirror_SyncCancelledMidwayThenCompletes(t *testing.T) {
	cases := []struct {
		name string
		// cancelAt returns the options of the interrupted sync; it calls cancel at some point of it.
		options func(cancel func()) (Policy, SyncOptions)
		// beforeStart: the context is cancelled before Sync begins, so nothing may be copied.
		beforeStart bool
	}{
		{
			name:        "before it starts",
			beforeStart: true,
			options: func(cancel func()) (Policy, SyncOptions) {
				cancel()
				return testPolicy(t), SyncOptions{}
			},
		},
		{
			name: "between entries",
			options: func(cancel func()) (Policy, SyncOptions) {
				base := testPolicy(t)
				return PolicyFunc(func(rel string) bool {
					if rel == "m" {
						cancel()
					}
					return base.Mirrored(rel)
				}), SyncOptions{}
			},
		},
		{
			name: "inside a large file",
			options: func(cancel func()) (Policy, SyncOptions) {
				// The first progress report comes after the first chunk copied.
				return testPolicy(t), SyncOptions{Progress: func(done, total int64) {
					if done > 0 && done < total {
						cancel()
					}
				}}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			primary, target := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
			for i := range 26 {
				writeFile(t, filepath.Join(primary, string(rune('a'+i)), "f"), []byte{byte(i)})
			}
			big := make([]byte, 4<<20+17)
			for i := range big {
				big[i] = byte(i % 251)
			}
			writeFile(t, filepath.Join(primary, "0big"), big)
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			policy, o := c.options(cancel)
			m, err := Open(primary, target, policy, Options{})
			if err != nil {
				t.Fatal(err)
			}
			r, err := m.Sync(ctx, o)
			m.Close()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted Sync = %+v, %v; want context.Canceled", r, err)
			}
			if r.Copied == 0 && !c.beforeStart {
				t.Errorf("the interrupted sync copied nothing (%+v): it was not cancelled midway", r)
			}

			p := openPair(t, primary, target, Options{})
			if diffs, _ := p.m.Verify(context.Background(), VerifyOptions{}); len(diffs) == 0 {
				t.Fatal("the mirror is complete after an interrupted sync: the test interrupted nothing")
			}
			mustSync(t, p.m, SyncOptions{})
			requireClean(t, p.m)
		})
	}
}

func TestMirror_VerifyListsEachDifference(t *testing.T) {
	cases := []struct {
		name    string
		root    bool
		rel     string
		what    string // a word of the difference's text
		mutate  func(t *testing.T, p *pair)
		primary bool // mutate the primary rather than the mirror
	}{
		{name: "missing", rel: "f", what: "missing", mutate: func(t *testing.T, p *pair) { os.Remove(p.Q("f")) }},
		{name: "extra", rel: "sub/new", what: "only on the mirror", mutate: func(t *testing.T, p *pair) { writeFile(t, p.Q("sub/new"), nil) }},
		{name: "size", rel: "f", what: "size", mutate: func(t *testing.T, p *pair) { os.Truncate(p.Q("f"), 1) }},
		{name: "mode", rel: "sub", what: "mode", mutate: func(t *testing.T, p *pair) { os.Chmod(p.Q("sub"), 0o700) }},
		{name: "file mode", rel: "f", what: "mode", mutate: func(t *testing.T, p *pair) { os.Chmod(p.Q("f"), 0o600) }},
		{name: "owner", root: true, rel: "f", what: "owner", mutate: func(t *testing.T, p *pair) { os.Lchown(p.Q("f"), 4242, 4242) }},
		{name: "content", rel: "sub/g", what: "content", mutate: func(t *testing.T, p *pair) { writeFile(t, p.Q("sub/g"), []byte("GGG")) }},
		{name: "symlink", rel: "l", what: "symlink target", mutate: func(t *testing.T, p *pair) {
			os.Remove(p.Q("l"))
			os.Symlink("elsewhere", p.Q("l"))
		}},
		{name: "type", rel: "l", what: "type", mutate: func(t *testing.T, p *pair) {
			os.Remove(p.Q("l"))
			writeFile(t, p.Q("l"), nil)
		}},
		{name: "new on the primary", rel: "fresh", what: "missing", primary: true, mutate: func(t *testing.T, p *pair) { writeFile(t, p.P("fresh"), nil) }},
		{name: "a directory for a file", rel: "f", what: "type", mutate: func(t *testing.T, p *pair) {
			os.Remove(p.Q("f"))
			os.Mkdir(p.Q("f"), 0o755)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.root {
				needRoot(t, "give a mirror file another owner")
			}
			p := newPair(t, Options{})
			writeFile(t, p.P("f"), []byte("ffff"))
			writeFile(t, p.P("sub/g"), []byte("ggg"))
			writeFile(t, p.P("sub/h.excl"), []byte("excluded"))
			if err := os.Symlink("f", p.P("l")); err != nil {
				t.Fatal(err)
			}
			mustSync(t, p.m, SyncOptions{})
			requireClean(t, p.m)
			writeFile(t, p.Q("sub/h.excl"), []byte("differs, but excluded"))
			c.mutate(t, p)
			diffs, err := p.m.Verify(context.Background(), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) != 1 || diffs[0].Rel != c.rel || !strings.Contains(diffs[0].What, c.what) {
				t.Fatalf("Verify = %v; want one difference of %s about %q", diffs, c.rel, c.what)
			}
			if s := diffs[0].String(); !strings.HasPrefix(s, c.rel+": ") {
				t.Errorf("Difference.String() = %q; want it to start with the path", s)
			}
			mustSync(t, p.m, SyncOptions{Full: true})
			requireClean(t, p.m)
		})
	}
	t.Run("every kind at once", func(t *testing.T) {
		p := newPair(t, Options{})
		writeFile(t, p.P("missing"), []byte("a"))
		writeFile(t, p.Q("extra"), []byte("a"))
		writeFile(t, p.P("size"), []byte("aa"))
		writeFile(t, p.Q("size"), []byte("a"))
		writeFile(t, p.P("content"), []byte("ab"))
		writeFile(t, p.Q("content"), []byte("ba"))
		writeFile(t, p.P("mode"), []byte("a"))
		writeFile(t, p.Q("mode"), []byte("a"))
		os.Chmod(p.Q("mode"), 0o600)
		os.Symlink("x", p.P("link"))
		os.Symlink("y", p.Q("link"))
		writeFile(t, p.P("type"), []byte("a"))
		os.Mkdir(p.Q("type"), 0o755)
		diffs, err := p.m.Verify(context.Background(), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, d := range diffs {
			got[d.Rel] = d.What
		}
		for rel, want := range map[string]string{"missing": "missing", "extra": "only on the mirror", "size": "size differs",
			"content": "content differs", "mode": "mode differs", "link": "symlink target", "type": "type differs"} {
			if !strings.Contains(got[rel], want) {
				t.Errorf("%s: %q; want %q", rel, got[rel], want)
			}
		}
	})
}

func TestMirror_SyncPathsRepairsAndRemoves(t *testing.T) {
	p := newPair(t, Options{})
	writeFile(t, p.P("a"), []byte("a"))
	writeFile(t, p.P("d/b"), []byte("b"))
	mustSync(t, p.m, SyncOptions{})
	writeFile(t, p.P("a"), []byte("A changed"))
	os.RemoveAll(p.P("d"))
	writeFile(t, p.P("new"), []byte("n"))
	r, err := p.m.SyncPaths(context.Background(), []string{"a", "d", "new"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Copied != 2 {
		t.Errorf("SyncPaths: %+v; want 2 entries copied", r)
	}
	requireClean(t, p.m)
}

// TestWriteDiffering_WritesOnlyTheBlocksThatDiffer: within a chunk, the blocks that differ are written
// (neighbours in one write), those that match are not, and what lies past the mirror's end is.
func TestWriteDiffering_WritesOnlyTheBlocksThatDiffer(t *testing.T) {
	const n = 8*syncBlock + 100 // a short last block, as at the end of a file
	base := make([]byte, n)
	for i := range base {
		base[i] = byte(i * 7)
	}
	flip := func(offs ...int) []byte {
		b := append([]byte(nil), base...)
		for _, o := range offs {
			b[o] ^= 0xff
		}
		return b
	}
	cases := []struct {
		name    string
		want    []byte
		haveLen int   // how much of base the mirror holds
		written int64 // bytes writeDiffering must write
	}{
		{"equal", base, n, 0},
		{"one byte in one block", flip(3*syncBlock + 5), n, syncBlock},
		{"two neighbouring blocks", flip(syncBlock, 2*syncBlock+1), n, 2 * syncBlock},
		{"two distant blocks", flip(0, 6*syncBlock), n, 2 * syncBlock},
		{"the short last block", flip(n - 1), n, 100},
		{"the mirror ends mid-chunk", base, 5*syncBlock + 10, 3*syncBlock + 100},
		{"the mirror holds nothing", base, 0, n},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := os.CreateTemp(t.TempDir(), "q")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(base[:c.haveLen]); err != nil {
				t.Fatal(err)
			}
			w, err := writeDiffering(int(f.Fd()), c.want, base[:c.haveLen], 0)
			if err != nil || w != c.written {
				t.Fatalf("writeDiffering = %d, %v; want %d bytes written", w, err, c.written)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("the file does not hold what was wanted (%v)", err)
			}
		})
	}
}
