package meta

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// goodRecord is what WriteRecord leaves on disk for a mirror in sync.
func goodRecord(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	rec := Record{PrimaryID: "0123456789abcdef0123456789abcdef", PrimaryPath: "/disk1/env", Generation: 3,
		State: StateInSync, Clean: true, Sealed: map[string]string{"log.0000000001": "ab"}}
	if err := WriteRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	return mustRead(t, Path(dir, RecordFile))
}

func TestReadRecord_CorruptNamesTheFileAndTheFix(t *testing.T) {
	good := goodRecord(t)
	cases := map[string][]byte{
		"truncated":       good[:len(good)/2],
		"cut at the end":  good[:len(good)-3],
		"empty":           {},
		"wrong type":      []byte(`{"generation":"three"}`),
		"bad time":        []byte(`{"updated":"yesterday"}`),
		"not an object":   []byte(`[1,2,3]`),
		"trailing data":   append(append([]byte{}, good...), []byte("}{")...),
		"binary garbage":  {0x00, 0xff, 0xfe, 0x7b},
		"negative number": []byte(`{"generation":-1}`),
		"an open brace":   []byte("{"),
		"cut in a value":  []byte(`{"version":1,"state":`),
		"control bytes":   {0x00, 0x01},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, Path(dir, RecordFile), b)
			_, ok, err := ReadRecord(dir)
			if ok || !errors.Is(err, ErrCorruptMeta) {
				t.Fatalf("ReadRecord = %v, %v; want ErrCorruptMeta", ok, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, Path(dir, RecordFile)) || !strings.Contains(msg, "move it aside") ||
				!strings.Contains(msg, "mirrorctl sync --rebuild-mirror --primary PRIMARY --mirror "+dir) {
				t.Errorf("message %q must name the file and say what to do", msg)
			}
		})
	}
	dir := t.TempDir()
	writeFile(t, Path(dir, RecordFile), good)
	if rec, ok, err := ReadRecord(dir); err != nil || !ok || rec.Generation != 3 || rec.Sealed["log.0000000001"] != "ab" {
		t.Errorf("the intact record reads as %+v, %v, %v", rec, ok, err)
	}
	if _, ok, err := ReadRecord(t.TempDir()); ok || err != nil {
		t.Errorf("ReadRecord of a directory that never was a mirror = %v, %v; want false, nil", ok, err)
	}
}

// Invariant (doc.go): a record is used only if this program understands all of it.
func TestReadRecord_RefusesNewerVersionAndUnknownState(t *testing.T) {
	cases := []struct {
		name, record string
		want         error
		says         string
	}{
		{"newer version", `{"version":2,"primary_id":"x","state":"in-sync","clean":true}`, ErrNewerMeta, "upgrade mirrorctl"},
		{"far newer version", `{"version":1000,"state":"in-sync"}`, ErrNewerMeta, "record version 1000"},
		{"unknown state", `{"version":1,"primary_id":"x","state":"half-done"}`, ErrCorruptMeta, `unknown state "half-done"`},
		{"state in capitals", `{"version":1,"state":"IN-SYNC"}`, ErrCorruptMeta, "unknown state"},
		{"no state", `{"version":1,"primary_id":"x"}`, ErrCorruptMeta, `unknown state ""`},
		{"null", `null`, ErrCorruptMeta, "unknown state"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, Path(dir, RecordFile), []byte(c.record))
			_, ok, err := ReadRecord(dir)
			if ok || !errors.Is(err, c.want) {
				t.Fatalf("ReadRecord(%s) = %v, %v; want %v", c.record, ok, err, c.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, Path(dir, RecordFile)) || !strings.Contains(msg, c.says) || strings.Contains(msg, "\n") {
				t.Errorf("message %q must be one line naming the file and saying %q", msg, c.says)
			}
		})
	}
	for _, st := range []State{StateNew, StateSyncing, StateInSync, StateServing, StateDegraded, StatePromoted} {
		dir := t.TempDir()
		if err := WriteRecord(dir, Record{PrimaryID: "x", State: st}); err != nil {
			t.Fatal(err)
		}
		if rec, ok, err := ReadRecord(dir); err != nil || !ok || rec.State != st || rec.Version != RecordVersion {
			t.Errorf("a record in state %s as WriteRecord writes it reads as %+v, %v, %v", st, rec, ok, err)
		}
	}
}

func FuzzReadRecord(f *testing.F) {
	f.Add([]byte(`{"version":1,"primary_id":"x","state":"in-sync","clean":true}`))
	f.Add([]byte(`{"sealed":{"log.0000000001":"ab"}}`))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		writeFile(t, Path(dir, RecordFile), b)
		if _, ok, err := ReadRecord(dir); err != nil && !errors.Is(err, ErrCorruptMeta) && !errors.Is(err, ErrNewerMeta) || err == nil && !ok {
			t.Fatalf("ReadRecord(%q): ok=%v err=%v", b, ok, err)
		}
	})
}

func TestIdentity_RoundTripAndGeneration(t *testing.T) {
	fresh := t.TempDir()
	first, err := EnsureIdentity(fresh)
	if err != nil || first.Generation != 1 || len(first.ID) != 32 {
		t.Fatalf("the identity EnsureIdentity makes in a fresh directory: %+v, %v", first, err)
	}
	if again, err := EnsureIdentity(fresh); err != nil || again.ID != first.ID {
		t.Fatalf("a second EnsureIdentity replaced the identity: %+v, %v", again, err)
	}
	next := NewGeneration(first, first.ID)
	if next.Generation != 2 || next.ID == first.ID || next.PromotedFrom != first.ID {
		t.Fatalf("NewGeneration(%+v) = %+v; want generation 2, a new id, promoted from the old one", first, next)
	}

	dir := t.TempDir()
	if _, ok, err := ReadIdentity(dir); ok || err != nil {
		t.Fatalf("ReadIdentity of a fresh directory = %v, %v", ok, err)
	}
	want := Identity{ID: newID(), Generation: 7, Created: time.Date(2026, 2, 3, 4, 5, 6, 789, time.UTC),
		PromotedFrom: newID(), SupersededBy: "8"}
	if err := WriteIdentity(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadIdentity(dir)
	if err != nil || !ok || got.ID != want.ID || got.Generation != want.Generation || !got.Created.Equal(want.Created) ||
		got.PromotedFrom != want.PromotedFrom || got.SupersededBy != want.SupersededBy {
		t.Fatalf("ReadIdentity = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if e, err := EnsureIdentity(dir); err != nil || e.ID != want.ID {
		t.Errorf("EnsureIdentity replaced an existing identity: %+v, %v", e, err)
	}
	if _, err := os.Stat(Path(dir, IdentityFile) + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file of the durable write is left behind: %v", err)
	}
}

func TestDegraded_RoundTripAndClear(t *testing.T) {
	dir := t.TempDir()
	want := Degraded{Since: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Reason: "mirror write f: no space", Dirty: []string{"a", "b c"}}
	if err := WriteDegraded(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadDegraded(dir)
	if err != nil || !ok || !got.Since.Equal(want.Since) || got.Reason != want.Reason || strings.Join(got.Dirty, "|") != "a|b c" {
		t.Fatalf("ReadDegraded = %+v, %v, %v", got, ok, err)
	}
	for range 2 { // clearing twice is fine
		if err := ClearDegraded(dir); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := ReadDegraded(dir); ok || err != nil {
		t.Errorf("after ClearDegraded: %v, %v", ok, err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
