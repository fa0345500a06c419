package meta

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestExplain_NamesThePathOnceWithTheFix(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, notDir := os.ReadFile(filepath.Join(file, Dir, RecordFile))
	_, isDir := os.ReadFile(dir)
	cases := []struct {
		name string
		err  error
		path string
		says string
	}{
		{"a file where a directory belongs", notDir, filepath.Join(file, Dir, RecordFile), "move the file aside"},
		{"a directory where a file belongs", isDir, dir, "move it aside"},
		{"permission", &fs.PathError{Op: "open", Path: "/p/x", Err: syscall.EACCES}, "/p/x", "run mirrorctl as root"},
		{"full disk", &fs.PathError{Op: "write", Path: "/m/x.tmp", Err: syscall.ENOSPC}, "/m/x.tmp", "free space"},
		{"rename", &os.LinkError{Op: "rename", Old: "/m/a.tmp", New: "/m/a", Err: syscall.EROFS}, "/m/a.tmp", "remount it read-write"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("the setup made no error")
			}
			got := Explain(c.err)
			msg := got.Error()
			if strings.Count(msg, c.path) != 1 || !strings.Contains(msg, c.says) || strings.Contains(msg, "\n") {
				t.Fatalf("Explain(%q) = %q: want one line naming %s once and %q", c.err, msg, c.path, c.says)
			}
			var pe *fs.PathError
			var le *os.LinkError
			if !errors.As(got, &pe) && !errors.As(got, &le) {
				t.Errorf("Explain(%q) hides the file-system error from errors.As", c.err)
			}
		})
	}
	plain := errors.New("not a path error")
	if Explain(plain) != plain {
		t.Error("Explain changed an error that is not a file-system error")
	}
	if !errors.Is(Explain(&fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}), fs.ErrNotExist) {
		t.Error("errors.Is does not see through Explain")
	}
}
