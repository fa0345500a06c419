package mirror

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/lock"
)

func TestReadRecord_Corrupt(t *testing.T) {
	for _, content := range []string{"", "{", `{"version":1,"state":`, "\x00\x01"} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, MetaDir), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, MetaDir, recordFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadRecord(dir)
		if !errors.Is(err, ErrCorruptMeta) || !strings.Contains(err.Error(), "mirror.json") || !strings.Contains(err.Error(), "move it aside") {
			t.Errorf("corrupt %q: %v", content, err)
		}
	}
}

func FuzzReadRecord(f *testing.F) {
	f.Add([]byte(`{"version":1,"primary_id":"x","state":"in-sync","clean":true}`))
	f.Add([]byte(`{"sealed":{"log.0000000001":"ab"}}`))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, MetaDir), 0o700)
		os.WriteFile(filepath.Join(dir, MetaDir, recordFile), b, 0o600)
		if _, ok, err := ReadRecord(dir); err != nil && !errors.Is(err, ErrCorruptMeta) || err == nil && !ok {
			t.Fatalf("ReadRecord(%q): ok=%v err=%v", b, ok, err)
		}
	})
}

func TestIdentity_RoundTripAndGeneration(t *testing.T) {
	dir := t.TempDir()
	id, err := EnsureIdentity(dir)
	if err != nil || id.Generation != 1 || len(id.ID) != 32 {
		t.Fatalf("first identity: %+v %v", id, err)
	}
	again, err := EnsureIdentity(dir)
	if err != nil || again.ID != id.ID {
		t.Fatalf("identity not kept: %+v %v", again, err)
	}
	next := NewGeneration(id, id.ID)
	if next.Generation != 2 || next.ID == id.ID || next.PromotedFrom != id.ID {
		t.Fatalf("new generation: %+v", next)
	}
}

func TestCheckPair_Refusals(t *testing.T) {
	base := t.TempDir()
	p := filepath.Join(base, "p")
	os.Mkdir(p, 0o755)
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	link := filepath.Join(base, "link-to-p")
	os.Symlink(p, link)
	cases := []struct{ primary, mirror, want string }{
		{filepath.Join(base, "nope"), filepath.Join(base, "m"), "primary"},
		{file, filepath.Join(base, "m"), "not a directory"},
		{p, p, "same directory"},
		{p, link, "same directory"},
		{p, filepath.Join(link, "sub"), "inside the primary"},
		{p, base, "inside the mirror"},
		{p, filepath.Join(base, "no", "parent"), "parent directory does not exist"},
		{p, file, "not a directory"},
	}
	for _, c := range cases {
		_, err := CheckPair(c.primary, c.mirror)
		if !errors.Is(err, ErrBadPair) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckPair(%s, %s) = %v, want %q", c.primary, c.mirror, err, c.want)
		}
	}
	if _, err := CheckPair(p, filepath.Join(base, "m")); err != nil {
		t.Errorf("a good pair: %v", err)
	}
}

func TestClaim_Refusals(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	m := filepath.Join(base, "m")
	pair, _ := CheckPair(a, m)
	s, err := Start(ctx, pair, StartOptions{Policy: PolicyFunc(coreAll)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	other, _ := CheckPair(b, m)
	if _, _, err := Claim(other, ClaimOptions{}); err == nil || !strings.Contains(err.Error(), "another primary") {
		t.Errorf("a mirror of another primary: %v", err)
	}
	if _, _, err := Claim(other, ClaimOptions{Rebuild: true}); err != nil {
		t.Errorf("--rebuild-mirror: %v", err)
	}
	stranger := filepath.Join(base, "stranger")
	os.Mkdir(stranger, 0o755)
	os.WriteFile(filepath.Join(stranger, "x"), nil, 0o644)
	sp, _ := CheckPair(a, stranger)
	if _, _, err := Claim(sp, ClaimOptions{}); err == nil || !strings.Contains(err.Error(), "never a mirrorctl mirror") {
		t.Errorf("a non-empty stranger: %v", err)
	}
}

func TestTryLock_NamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := lock.TryLock(dir, MetaDir, lock.Holder{PID: 4242, Command: "mount", MountPoint: "/srv/env"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lock.TryLock(dir, MetaDir, lock.Holder{PID: 1, Command: "promote"})
	var le *lock.LockedError
	if !errors.As(err, &le) || !errors.Is(err, lock.ErrLocked) || !strings.Contains(err.Error(), "mirrorctl unmount /srv/env") || !strings.Contains(err.Error(), "4242") {
		t.Fatalf("second lock: %v", err)
	}
	l.Unlock()
	l2, err := lock.TryLock(dir, MetaDir, lock.Holder{PID: 1, Command: "promote"})
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}
