package foreign

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// infoRecord encodes a fid info record as the kernel does: header, fsid, file handle, name and NUL
// padded to 4 bytes.
func infoRecord(typ uint8, h handle, name string, withName bool) []byte {
	var b []byte
	b = append(b, typ, 0, 0, 0)
	b = append(b, 1, 2, 3, 4, 5, 6, 7, 8) // fsid
	b = binary.NativeEndian.AppendUint32(b, uint32(len(h.bytes)))
	b = binary.NativeEndian.AppendUint32(b, uint32(h.typ))
	b = append(b, h.bytes...)
	if withName {
		b = append(append(b, name...), 0)
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	binary.NativeEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// encodeEvent encodes metadata followed by info records.
func encodeEvent(mask uint64, fd, pid int32, infos ...[]byte) []byte {
	b := make([]byte, metadataLen)
	b[4] = unix.FANOTIFY_METADATA_VERSION
	binary.NativeEndian.PutUint16(b[6:], metadataLen)
	binary.NativeEndian.PutUint64(b[8:], mask)
	binary.NativeEndian.PutUint32(b[16:], uint32(fd))
	binary.NativeEndian.PutUint32(b[20:], uint32(pid))
	for _, in := range infos {
		b = append(b, in...)
	}
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	return b
}

func TestParseEvents(t *testing.T) {
	dir := handle{typ: 1, bytes: []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}}
	dfidName := func(name string) []byte { return infoRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, dir, name, true) }
	cases := []struct {
		name string
		buf  []byte
		want []event
		bad  bool
	}{
		{name: "empty", buf: nil},
		{name: "overflow has no info record",
			buf:  encodeEvent(unix.FAN_Q_OVERFLOW, unix.FAN_NOFD, 0),
			want: []event{{mask: unix.FAN_Q_OVERFLOW, fd: unix.FAN_NOFD}}},
		{name: "a change with a directory and a name",
			buf:  encodeEvent(unix.FAN_CREATE, unix.FAN_NOFD, 42, dfidName("f")),
			want: []event{{mask: unix.FAN_CREATE, fd: unix.FAN_NOFD, pid: 42, dir: dir, name: "f"}}},
		{name: "the directory itself is named dot",
			buf:  encodeEvent(unix.FAN_ATTRIB|unix.FAN_ONDIR, unix.FAN_NOFD, 7, dfidName(".")),
			want: []event{{mask: unix.FAN_ATTRIB | unix.FAN_ONDIR, fd: unix.FAN_NOFD, pid: 7, dir: dir, name: "."}}},
		{name: "a directory record without a name",
			buf:  encodeEvent(unix.FAN_MODIFY, unix.FAN_NOFD, 7, infoRecord(unix.FAN_EVENT_INFO_TYPE_DFID, dir, "", false)),
			want: []event{{mask: unix.FAN_MODIFY, fd: unix.FAN_NOFD, pid: 7, dir: dir}}},
		{name: "a long name is padded",
			buf:  encodeEvent(unix.FAN_DELETE, unix.FAN_NOFD, 9, dfidName("a-name-of-some-length")),
			want: []event{{mask: unix.FAN_DELETE, fd: unix.FAN_NOFD, pid: 9, dir: dir, name: "a-name-of-some-length"}}},
		{name: "records of other types are skipped",
			buf: encodeEvent(unix.FAN_MODIFY, unix.FAN_NOFD, 3,
				[]byte{unix.FAN_EVENT_INFO_TYPE_PIDFD, 0, 8, 0, 5, 0, 0, 0}, dfidName("g")),
			want: []event{{mask: unix.FAN_MODIFY, fd: unix.FAN_NOFD, pid: 3, dir: dir, name: "g"}}},
		{name: "two events in one read",
			buf: append(encodeEvent(unix.FAN_MOVED_FROM, unix.FAN_NOFD, 5, dfidName("f")),
				encodeEvent(unix.FAN_MOVED_TO, unix.FAN_NOFD, 5, dfidName("g"))...),
			want: []event{{mask: unix.FAN_MOVED_FROM, fd: unix.FAN_NOFD, pid: 5, dir: dir, name: "f"},
				{mask: unix.FAN_MOVED_TO, fd: unix.FAN_NOFD, pid: 5, dir: dir, name: "g"}}},
		{name: "a descriptor is passed on to be closed",
			buf:  encodeEvent(unix.FAN_MODIFY, 12, 5),
			want: []event{{mask: unix.FAN_MODIFY, fd: 12, pid: 5}}},
		{name: "shorter than the metadata", buf: make([]byte, 10), bad: true},
		{name: "another metadata version", buf: func() []byte {
			b := encodeEvent(unix.FAN_MODIFY, unix.FAN_NOFD, 1)
			b[4] = 2
			return b
		}(), bad: true},
		{name: "event longer than the read", buf: encodeEvent(unix.FAN_MODIFY, unix.FAN_NOFD, 1, dfidName("f"))[:40], bad: true},
		{name: "info record longer than its event", buf: func() []byte {
			b := encodeEvent(unix.FAN_MODIFY, unix.FAN_NOFD, 1, dfidName("f"))
			binary.NativeEndian.PutUint16(b[metadataLen+2:], 200)
			return b
		}(), bad: true},
		{name: "info record shorter than its header", buf: encodeEvent(unix.FAN_MODIFY, unix.FAN_NOFD, 1, []byte{2, 0, 2, 0}), bad: true},
		{name: "empty file handle",
			buf: encodeEvent(unix.FAN_MODIFY, unix.FAN_NOFD, 1, infoRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, handle{typ: 1}, "f", true)),
			bad: true},
		{name: "name without its NUL", buf: func() []byte {
			rec := infoRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, dir, "abc", true) // "abc\0" fills the record exactly
			rec[len(rec)-1] = 'd'
			return encodeEvent(unix.FAN_MODIFY, unix.FAN_NOFD, 1, rec)
		}(), bad: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseEvents(c.buf)
			if (err != nil) != c.bad {
				t.Fatalf("parseEvents: error %v, want an error: %v", err, c.bad)
			}
			if !c.bad && !reflect.DeepEqual(got, c.want) {
				t.Fatalf("parseEvents:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// FuzzParseEvents checks that no buffer makes the parser panic or read outside it, and that what it
// returns is what a well-formed buffer would hold.
func FuzzParseEvents(f *testing.F) {
	dir := handle{typ: 1, bytes: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	f.Add(encodeEvent(unix.FAN_CREATE, unix.FAN_NOFD, 42, infoRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, dir, "f", true)))
	f.Add(encodeEvent(unix.FAN_Q_OVERFLOW, unix.FAN_NOFD, 0))
	f.Add(append(encodeEvent(unix.FAN_MOVED_FROM, unix.FAN_NOFD, 5, infoRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, dir, "a", true)),
		encodeEvent(unix.FAN_MOVED_TO, unix.FAN_NOFD, 5, infoRecord(unix.FAN_EVENT_INFO_TYPE_DFID, dir, "", false))...))
	f.Fuzz(func(t *testing.T, buf []byte) {
		evs, err := parseEvents(buf)
		for _, ev := range evs {
			if len(ev.dir.bytes) > maxHandle || bytes.IndexByte([]byte(ev.name), 0) >= 0 {
				t.Fatalf("parsed %+v from %x", ev, buf)
			}
		}
		if err == nil && len(buf) > 0 && len(evs) == 0 {
			t.Fatalf("no event and no error from %d bytes", len(buf))
		}
	})
}
