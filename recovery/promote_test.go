package recovery

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
)

// listingEngine is an engine that only lists log files by name (what check needs); any other call,
// and Available, fail, so that a promotion that gets past check stops there.
type listingEngine struct{ engine.Engine }

func (listingEngine) Name() string     { return "test" }
func (listingEngine) Available() error { return errors.New("the test engine runs nothing") }
func (listingEngine) Logs(dir string) ([]engine.LogFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var logs []engine.LogFile
	for i, e := range ents {
		if strings.HasPrefix(e.Name(), "log.") {
			logs = append(logs, engine.LogFile{Rel: e.Name(), Number: uint32(i + 1)})
		}
	}
	return logs, nil
}

// mirrorDir makes a mirror directory with the given record and, if withLog, one log file.
func mirrorDir(t *testing.T, rec meta.Record, withLog bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := meta.WriteRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	if withLog {
		if err := os.WriteFile(filepath.Join(dir, "log.0000000001"), []byte("log"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPromote_StateIsCheckedBeforeTheLogs: an interrupted sync lacks log files because it was
// interrupted; the refusal names the state, not the missing logs.
func TestPromote_StateIsCheckedBeforeTheLogs(t *testing.T) {
	cases := []struct {
		name  string
		state meta.State
		want  string
	}{
		{"interrupted sync", meta.StateSyncing, "never completely in sync (state syncing)"},
		{"never synced", meta.StateNew, "never completely in sync (state new)"},
		{"degraded", meta.StateDegraded, "DEGRADED"},
		{"promoted", meta.StatePromoted, "already promoted"},
	}
	for _, c := range cases {
		for _, dry := range []bool{false, true} {
			t.Run(c.name+map[bool]string{true: " (dry run)"}[dry], func(t *testing.T) {
				dir := mirrorDir(t, meta.Record{PrimaryID: "p", State: c.state, PromotedAt: time.Now()}, false)
				_, err := Promote(context.Background(), Options{Mirror: dir, DryRun: dry, Engine: listingEngine{}})
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "log files") {
					t.Fatalf("promote of a mirror in state %s without log files: %v; want a refusal saying %q", c.state, err, c.want)
				}
			})
		}
	}
	dir := mirrorDir(t, meta.Record{PrimaryID: "p", State: meta.StateInSync, Clean: true}, false)
	if _, err := Promote(context.Background(), Options{Mirror: dir, Engine: listingEngine{}}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no test log files") {
		t.Fatalf("promote of an in-sync mirror without log files: %v; want the missing logs named", err)
	}
}

// TestPromote_DegradedMarkerOfTheRecordedPrimary: while a degraded mount runs (and after it was
// killed, or let go of the mirror's disk) the record says serving and only the primary's marker says
// degraded. Promote, and its dry run, refuse it without --force as they do with --primary given.
func TestPromote_DegradedMarkerOfTheRecordedPrimary(t *testing.T) {
	primary := t.TempDir()
	id, err := meta.EnsureIdentity(primary)
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.WriteDegraded(primary, meta.Degraded{Since: time.Now(), Reason: "mirror write: no space", Dirty: []string{"accounts.db"}}); err != nil {
		t.Fatal(err)
	}
	rec := meta.Record{PrimaryID: id.ID, PrimaryPath: primary, State: meta.StateServing}
	for _, dry := range []bool{false, true} {
		for _, given := range []string{"", primary} {
			dir := mirrorDir(t, rec, true)
			_, err := Promote(context.Background(), Options{Mirror: dir, Primary: given, DryRun: dry, Engine: listingEngine{}})
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "DEGRADED") || !strings.Contains(err.Error(), "--force") {
				t.Errorf("promote (dry run %v, --primary %q) of a mirror whose primary is marked degraded: %v; want the refusal that names --force", dry, given, err)
			}
		}
	}
	// The marker of another environment at the recorded path says nothing about this mirror.
	other := rec
	other.PrimaryID = "another"
	dir := mirrorDir(t, other, true)
	if _, err := Promote(context.Background(), Options{Mirror: dir, DryRun: true, Engine: listingEngine{}}); errors.Is(err, ErrRefused) {
		t.Errorf("the degraded marker of another environment refused the promotion: %v", err)
	}
}

// TestPromote_RefusesAnOldPrimaryThatIsNotOne: --primary naming the mirror itself (directly or by a
// symlink) would leave the real old primary unmarked; a primary that a running mount writes is alive.
// Both are refused before anything changes.
func TestPromote_RefusesAnOldPrimaryThatIsNotOne(t *testing.T) {
	rec := meta.Record{PrimaryID: "p", State: meta.StateInSync, Clean: true}
	dir := mirrorDir(t, rec, true)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := meta.WriteIdentity(other, meta.Identity{ID: "0123456789abcdef", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	live := t.TempDir()
	l, err := lock.TryLockPrimary(live, lock.Holder{PID: 4242, Command: "mount", MountPoint: "/srv/env"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	cases := []struct{ name, primary, want string }{
		{"the mirror itself", dir, "is the mirror itself"},
		{"another environment", other, "is another environment (id 01234567)"},
		{"a symlink to the mirror", link, "is the mirror itself"},
		{"a primary a mount writes", live, "pid 4242 at /srv/env"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshotTree(t, dir)
			_, err := Promote(context.Background(), Options{Mirror: dir, Primary: c.primary, Engine: listingEngine{}})
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("promote --primary %s: %v; want a refusal saying %q", c.primary, err, c.want)
			}
			if after := snapshotTree(t, dir); after != before {
				t.Errorf("a refused promote changed the mirror:\n%s\n%s", before, after)
			}
		})
	}
}

// snapshotTree lists every path under dir with its mode, size and content.
func snapshotTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b.WriteString(p + " " + info.Mode().String())
		if info.Mode().IsRegular() {
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.WriteString(" " + string(c))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Invariant: a dry run works on a mirror whose path holds the characters overlayfs's options give a
// meaning (a comma ends an option, a colon separates layers).
func TestOverlayView_PathWithCommaAndColon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlayfs needs root")
	}
	dir := filepath.Join(t.TempDir(), `env,a:b\c`)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("mirror\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	view, remove, err := overlayView(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	if b, err := os.ReadFile(filepath.Join(view, "f")); err != nil || string(b) != "mirror\n" {
		t.Fatalf("the view of %s holds %q, %v", dir, b, err)
	}
}
