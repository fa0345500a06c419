package mirror

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/internal/syncbuf"
	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
)

// startServing starts a session as a mount does, logging into the returned buffer.
func startServing(t *testing.T) (*Session, *syncbuf.Buffer) {
	t.Helper()
	base := t.TempDir()
	primary, target := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	for _, d := range []string{primary, target} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pr, err := CheckPair(primary, target)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	s, err := Start(context.Background(), pr, StartOptions{Policy: testPolicy(t), Holder: lock.Holder{PID: os.Getpid(), Command: "mount"},
		Serve: true, Mirror: Options{OnError: Degrade, Logger: slog.New(slog.NewTextHandler(logs, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s, logs
}

// The invariant: a foreign change to a mirrored path leaves it dirty in the degraded marker, durably,
// and the resync copies it, so the mirror catches up.
func TestMirror_ForeignChangeIsMarkedAndResynced(t *testing.T) {
	s, logs := startServing(t)
	p := &pair{m: s.Mirror, primary: s.Pair.Primary, target: s.Pair.Mirror}
	writeFile(t, p.P("f"), []byte("written behind the mount's back\n"))
	s.NoteForeignChange("f", 4242, "sh")

	d := s.Degraded()
	if d == nil || !reflect.DeepEqual(d.Dirty, []string{"f"}) || d.Reason != "foreign write to f by pid 4242 (sh)" {
		t.Fatalf("degraded marker %+v, want f dirty for the foreign write by pid 4242 (sh)", d)
	}
	if onDisk, ok, err := meta.ReadDegraded(p.primary); err != nil || !ok || !reflect.DeepEqual(onDisk.Dirty, []string{"f"}) {
		t.Fatalf("degraded marker on the primary: %+v %v %v", onDisk, ok, err)
	}
	st := s.Stats()
	if st.ForeignWrites != 1 || st.LastForeignWrite == nil || st.LastForeignWrite.Path != "f" ||
		st.LastForeignWrite.PID != 4242 || st.LastForeignWrite.Comm != "sh" {
		t.Fatalf("stats: %d foreign writes, last %+v", st.ForeignWrites, st.LastForeignWrite)
	}
	if out := logs.String(); !strings.Contains(out, "foreign write") || !strings.Contains(out, "path=f") || !strings.Contains(out, "pid=4242") {
		t.Fatalf("no log line naming the file and the process:\n%s", out)
	}
	if _, err := s.Resync(context.Background()); err != nil {
		t.Fatal(err)
	}
	requireContent(t, "written behind the mount's back\n", p.Q("f"))
	if d := s.Degraded(); d != nil {
		t.Fatalf("still degraded after the resync: %+v", d)
	}
}

func TestMirror_ForeignChangesIgnored(t *testing.T) {
	s, _ := startServing(t)
	for _, rel := range []string{"x.excl", "scratch/y", meta.Dir, meta.Dir + "/degraded.json", "../outside", "/etc/passwd"} {
		s.NoteForeignChange(rel, 1, "")
	}
	if n := s.Stats().ForeignWrites; n != 0 {
		t.Errorf("%d foreign writes counted for paths that are not mirrored", n)
	}
	if d := s.Degraded(); d != nil {
		t.Errorf("degraded for paths that are not mirrored: %+v", d)
	}
}

// A lost event may have been any change: the whole tree is marked.
func TestMirror_ForeignLossMarksTheWholeTree(t *testing.T) {
	s, _ := startServing(t)
	s.NoteForeignLoss()
	if d := s.Degraded(); d == nil || !reflect.DeepEqual(d.Dirty, []string{"."}) {
		t.Fatalf("degraded marker %+v, want the whole tree dirty", d)
	}
}

// A storm of foreign writes gives one log line a minute, not one per write, but counts them all.
func TestMirror_ForeignWritesLogAtMostOneLineAMinute(t *testing.T) {
	s, logs := startServing(t)
	for i := range 100 {
		s.NoteForeignChange("f"+string(rune('a'+i%26)), 7, "dd")
	}
	if n := strings.Count(logs.String(), "foreign write:"); n != 1 {
		t.Errorf("%d log lines for 100 foreign writes, want 1:\n%s", n, logs.String())
	}
	if n := s.Stats().ForeignWrites; n != 100 {
		t.Errorf("%d foreign writes counted, want 100", n)
	}
	if d := s.Degraded(); d == nil || len(d.Dirty) != 26 {
		t.Errorf("degraded marker %+v, want the 26 paths dirty", d)
	}
}

// A foreign change that arrives while the resync is copying its path may be newer than what the copy
// read: the path stays dirty and is copied again, so the mirror ends equal to the primary. And a path
// that never stops changing makes the resync give up with a message naming it, not spin forever.
func TestMirror_ForeignChangeDuringItsCopyIsCopiedAgain(t *testing.T) {
	s, _ := startServing(t)
	p := &pair{m: s.Mirror, primary: s.Pair.Primary, target: s.Pair.Mirror}
	writeFile(t, p.P("f"), []byte("first\n"))
	s.NoteForeignChange("f", 4242, "sh")
	once := true
	s.Mirror.afterCopy = func(rel string) {
		if rel == "f" && once { // as if the write landed after the copy read f, its event just now
			once = false
			writeFile(t, p.P("f"), []byte("second, written during the copy\n"))
			s.NoteForeignChange("f", 4242, "sh")
		}
	}
	if a, err := s.Resync(context.Background()); err != nil || !a.Whole {
		t.Fatalf("resync: %+v, %v", a, err)
	}
	requireContent(t, "second, written during the copy\n", p.Q("f"))
	requireClean(t, s.Mirror)

	s.NoteForeignChange("f", 4242, "sh")
	s.Mirror.afterCopy = func(rel string) { s.NoteForeignChange(rel, 4242, "sh") }
	_, err := s.Resync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "f keeps changing behind the mount's back") {
		t.Fatalf("resync of a path that never stops changing: %v; want it to give up naming f", err)
	}
	if s.Degraded() == nil {
		t.Fatal("the mirror is not degraded after a resync that gave up")
	}
}
