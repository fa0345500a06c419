package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mirrorctl/mirrorctl/foreign"
	"github.com/mirrorctl/mirrorctl/mirror"
)

func openMirror(t *testing.T) *mirror.Mirror {
	t.Helper()
	base := t.TempDir()
	p, q := filepath.Join(base, "p"), filepath.Join(base, "q")
	for _, d := range []string{p, q} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m, err := mirror.Open(p, q, mirror.PolicyFunc(func(string) bool { return true }), mirror.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// Changes seen while the start's comparison runs reach the mirror once the session exists; too many
// of them, or lost ones, mark the whole tree.
func TestForeignWatch_HoldsChangesUntilAttached(t *testing.T) {
	cases := []struct {
		name    string
		changes []foreign.Change
		dirty   []string
		count   int64
	}{
		{"held in order", []foreign.Change{{Rel: "b", PID: 2}, {Rel: "a", PID: 3}}, []string{"a", "b"}, 2},
		{"lost", []foreign.Change{{Rel: "a", PID: 2}, {Rel: ".", Lost: true}, {Rel: "b", PID: 2}}, []string{"."}, 1},
		{"too many", func() []foreign.Change {
			cs := make([]foreign.Change, maxHeld+1)
			for i := range cs {
				cs[i] = foreign.Change{Rel: "f", PID: 2}
			}
			return cs
		}(), []string{"."}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &foreignWatch{state: "fanotify"}
			for _, ch := range c.changes {
				f.deliver(ch)
			}
			m := openMirror(t)
			f.attach(m)
			d := m.Degraded()
			if d == nil || !reflect.DeepEqual(d.Dirty, c.dirty) || m.Stats().ForeignWrites != c.count {
				t.Fatalf("after attach: degraded %+v, %d foreign writes; want %v dirty, %d", d, m.Stats().ForeignWrites, c.dirty, c.count)
			}
			f.deliver(foreign.Change{Rel: "later", PID: 4})
			if d := m.Degraded(); len(d.Dirty) != len(c.dirty)+1 {
				t.Fatalf("a change after attach did not reach the mirror: %+v", d)
			}
		})
	}
}
