package fusefs

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

func TestIOModesNeverMixCachedAndPassthrough(t *testing.T) {
	type step struct {
		open     bool // false: release the open made at step index rel
		writable bool
		rel      int
		want     ioMode
		refused  bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"readers alone share passthrough", []step{
			{open: true, want: ioPassthrough}, {open: true, want: ioPassthrough},
		}},
		{"a reader after a writer is cached", []step{
			{open: true, writable: true, want: ioCached}, {open: true, want: ioCached},
		}},
		{"a writer after a passthrough reader is refused", []step{
			{open: true, want: ioPassthrough}, {open: true, writable: true, refused: true},
		}},
		{"after the reader's release the writer is cached", []step{
			{open: true, want: ioPassthrough}, {rel: 0}, {open: true, writable: true, want: ioCached},
		}},
		{"after the writer's release a reader gets passthrough", []step{
			{open: true, writable: true, want: ioCached}, {open: true, want: ioCached}, {rel: 0},
			{open: true, want: ioCached}, // the cached reader still holds the page cache mode
			{rel: 1}, {rel: 3}, {open: true, want: ioPassthrough},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newIOModes()
			m.enabled.Store(true)
			var releases []func()
			for i, s := range c.steps {
				if !s.open {
					releases[s.rel]()
					releases[s.rel]() // a second call must not count twice
					releases = append(releases, func() {})
					continue
				}
				mode, done, err := m.admit(7, s.writable, false)
				if s.refused {
					if !errors.Is(err, syscall.ETXTBSY) {
						t.Fatalf("step %d: err %v, want ETXTBSY", i, err)
					}
					releases = append(releases, func() {})
					continue
				}
				if err != nil || mode != s.want {
					t.Fatalf("step %d: mode %v err %v, want %v", i, mode, err, s.want)
				}
				releases = append(releases, done)
			}
		})
	}
	t.Run("a writer waits for a reader's release in flight", func(t *testing.T) {
		m := newIOModes()
		m.enabled.Store(true)
		_, done, err := m.admit(7, false, false)
		if err != nil {
			t.Fatal(err)
		}
		go func() { time.Sleep(releaseGrace / 10); done() }() // RELEASE arrives after close(2)
		if mode, _, err := m.admit(7, true, false); mode != ioCached || err != nil {
			t.Fatalf("mode %v err %v, want cached", mode, err)
		}
	})
	t.Run("disabled: always cached", func(t *testing.T) {
		m := newIOModes()
		if mode, _, err := m.admit(7, false, false); mode != ioCached || err != nil {
			t.Fatalf("mode %v err %v", mode, err)
		}
	})
}
