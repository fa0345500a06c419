package foreign

// The kernel's event format, parsed by hand: x/sys/unix has the constants and the metadata struct,
// but nothing that walks a read buffer or its info records. Everything that knows the byte layout is
// in this file.
//
//	struct fanotify_event_metadata { u32 event_len; u8 vers; u8 reserved; u16 metadata_len;
//	                                 aligned_u64 mask; s32 fd; s32 pid; }          // 24 bytes
//	then info records up to event_len, each:
//	struct fanotify_event_info_header { u8 info_type; u8 pad; u16 len; }           // len counts the header
//	struct fanotify_event_info_fid { header; __kernel_fsid_t fsid;                 // 8 bytes
//	                                 struct file_handle { u32 handle_bytes; s32 handle_type;
//	                                                      u8 f_handle[handle_bytes]; }
//	                                 and for DFID_NAME: the name, NUL-terminated, padded to len }

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// event is one notification as the kernel wrote it.
type event struct {
	mask uint64
	fd   int32 // FAN_NOFD in FID mode; anything else is a descriptor the reader must close
	pid  int32
	dir  handle // the directory the change happened in (or the directory itself); zero if none
	name string // the entry in dir; "" or "." when the event is on dir itself
}

// handle is a file handle as open_by_handle_at takes it.
type handle struct {
	typ   int32
	bytes []byte
}

func (h handle) zero() bool { return len(h.bytes) == 0 }

// key identifies the handle in a map.
func (h handle) key() string {
	var t [4]byte
	binary.NativeEndian.PutUint32(t[:], uint32(h.typ))
	return string(t[:]) + string(h.bytes)
}

const (
	metadataLen = unix.FAN_EVENT_METADATA_LEN // 24
	infoHdrLen  = 4
	fsidLen     = 8
	fhHdrLen    = 8 // handle_bytes and handle_type
	maxHandle   = 128
)

// parseEvents splits a buffer read from a fanotify descriptor into events. A malformed buffer is an
// error: the events in it cannot be trusted, and the caller treats them as lost. The events parsed
// before the malformed one are returned with it, so that their descriptors can be closed.
func parseEvents(buf []byte) ([]event, error) {
	var evs []event
	for len(buf) > 0 {
		if len(buf) < metadataLen {
			return evs, fmt.Errorf("fanotify: %d bytes left, less than an event's metadata", len(buf))
		}
		ne := binary.NativeEndian
		evLen := int(ne.Uint32(buf[0:]))
		vers, mdLen := buf[4], int(ne.Uint16(buf[6:]))
		if vers != unix.FANOTIFY_METADATA_VERSION {
			return evs, fmt.Errorf("fanotify: metadata version %d, want %d", vers, unix.FANOTIFY_METADATA_VERSION)
		}
		if mdLen < metadataLen || evLen < mdLen || evLen > len(buf) {
			return evs, fmt.Errorf("fanotify: event of %d bytes with %d of metadata in %d bytes", evLen, mdLen, len(buf))
		}
		ev := event{mask: ne.Uint64(buf[8:]), fd: int32(ne.Uint32(buf[16:])), pid: int32(ne.Uint32(buf[20:]))}
		if err := parseInfo(buf[mdLen:evLen], &ev); err != nil {
			return append(evs, ev), err
		}
		evs = append(evs, ev)
		buf = buf[evLen:]
	}
	return evs, nil
}

// parseInfo reads the info records of one event; it keeps the directory handle and name and skips
// records of other types.
func parseInfo(b []byte, ev *event) error {
	for len(b) > 0 {
		if len(b) < infoHdrLen {
			return fmt.Errorf("fanotify: %d bytes left, less than an info record's header", len(b))
		}
		typ, n := b[0], int(binary.NativeEndian.Uint16(b[2:]))
		if n < infoHdrLen || n > len(b) {
			return fmt.Errorf("fanotify: info record of %d bytes in %d", n, len(b))
		}
		rec := b[infoHdrLen:n]
		switch typ {
		case unix.FAN_EVENT_INFO_TYPE_DFID_NAME, unix.FAN_EVENT_INFO_TYPE_DFID:
			h, name, err := parseFid(rec, typ == unix.FAN_EVENT_INFO_TYPE_DFID_NAME)
			if err != nil {
				return err
			}
			ev.dir, ev.name = h, name
		}
		b = b[n:]
	}
	return nil
}

// parseFid reads an fsid, a file handle and, if withName, the name after it.
func parseFid(rec []byte, withName bool) (handle, string, error) {
	if len(rec) < fsidLen+fhHdrLen {
		return handle{}, "", fmt.Errorf("fanotify: fid record of %d bytes", len(rec))
	}
	fh := rec[fsidLen:]
	size, typ := int(binary.NativeEndian.Uint32(fh[0:])), int32(binary.NativeEndian.Uint32(fh[4:]))
	if size == 0 || size > maxHandle || fhHdrLen+size > len(fh) {
		return handle{}, "", fmt.Errorf("fanotify: file handle of %d bytes in a record of %d", size, len(rec))
	}
	h := handle{typ: typ, bytes: bytes.Clone(fh[fhHdrLen : fhHdrLen+size])}
	if !withName {
		return h, "", nil
	}
	name := fh[fhHdrLen+size:]
	end := bytes.IndexByte(name, 0)
	if end < 0 {
		return handle{}, "", fmt.Errorf("fanotify: name without its terminating NUL")
	}
	return h, string(name[:end]), nil
}
