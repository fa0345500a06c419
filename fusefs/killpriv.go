package fusefs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// killPrivFS takes over from the kernel the clearing of setuid and setgid bits when an unprivileged
// process writes, truncates or opens with O_TRUNC (FUSE_HANDLE_KILLPRIV_V2).
//
// Without it, the kernel asks the daemon for security.capability (a GETXATTR round trip) before
// every write, to learn whether there are privileges to remove: a third round trip in every
// commit, next to WRITE and FSYNC. With it, the kernel only flags the requests of callers without
// CAP_FSETID (FUSE_WRITE_KILL_SUIDGID in a write's flags, FATTR_KILL_SUIDGID in a setattr,
// FUSE_OPEN_KILL_SUIDGID in an open or create) and leaves the clearing to the daemon:
//   - setuid and setgid (with group execute) are cleared here, on both sides, by a mode change that
//     goes through the mount's own SETATTR path, so the mirror gets it like any other chmod;
//   - security.capability needs nothing from us: the daemon's own write, truncate or chown on each
//     side's file system makes that file system remove it, as it does for every writer;
//   - a chown clears setuid and setgid the same way, by the file systems below.
//
// go-fuse's node API drops the flags, so this sits between the kernel and go-fuse's bridge.
type killPrivFS struct {
	fuse.RawFileSystem
}

// dropPrivs clears the setuid bit, and the setgid bit where it means set-group-ID (group execute
// set), of the regular file h.NodeId, through fh where there is one; after a successful change only.
// It returns the attributes after the change, or nil when nothing changed.
func (k *killPrivFS) dropPrivs(cancel <-chan struct{}, h fuse.InHeader, fh uint64, haveFh bool) *fuse.Attr {
	get := fuse.GetAttrIn{InHeader: h}
	if haveFh {
		get.Flags_, get.Fh_ = fuse.FUSE_GETATTR_FH, fh
	}
	var attr fuse.AttrOut
	if k.RawFileSystem.GetAttr(cancel, &get, &attr) != fuse.OK {
		return nil
	}
	mode := attr.Mode
	kill := uint32(0)
	if mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil
	}
	if mode&syscall.S_ISUID != 0 {
		kill |= syscall.S_ISUID
	}
	if mode&(syscall.S_ISGID|syscall.S_IXGRP) == syscall.S_ISGID|syscall.S_IXGRP {
		kill |= syscall.S_ISGID
	}
	if kill == 0 {
		return nil
	}
	set := fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{InHeader: h, Valid: fuse.FATTR_MODE, Mode: mode &^ kill & 07777}}
	if haveFh {
		set.Valid |= fuse.FATTR_FH
		set.Fh = fh
	}
	if k.RawFileSystem.SetAttr(cancel, &set, &attr) != fuse.OK {
		return nil
	}
	return &attr.Attr
}

func (k *killPrivFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	n, st := k.RawFileSystem.Writev(cancel, in, data)
	if st == fuse.ENOSYS {
		return n, st
	}
	if st == fuse.OK && in.WriteFlags&fuse.WRITE_KILL_SUIDGID != 0 {
		k.dropPrivs(cancel, in.InHeader, in.Fh, true)
	}
	return n, st
}

func (k *killPrivFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	n, st := k.RawFileSystem.Write(cancel, in, data)
	if st == fuse.OK && in.WriteFlags&fuse.WRITE_KILL_SUIDGID != 0 {
		k.dropPrivs(cancel, in.InHeader, in.Fh, true)
	}
	return n, st
}

func (k *killPrivFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	st := k.RawFileSystem.SetAttr(cancel, in, out)
	if st == fuse.OK && in.Valid&fuse.FATTR_KILL_SUIDGID != 0 {
		fh, haveFh := in.GetFh()
		if a := k.dropPrivs(cancel, in.InHeader, fh, haveFh); a != nil {
			out.Attr = *a
		}
	}
	return st
}

func (k *killPrivFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	st := k.RawFileSystem.Open(cancel, in, out)
	if st == fuse.OK && in.Mode&fuse.OPEN_KILL_SUIDGID != 0 {
		k.dropPrivs(cancel, in.InHeader, out.Fh, true)
	}
	return st
}

func (k *killPrivFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	st := k.RawFileSystem.Create(cancel, in, name, out)
	if st == fuse.OK && in.OpenFlags&fuse.OPEN_KILL_SUIDGID != 0 {
		h := in.InHeader
		h.NodeId = out.NodeId
		if a := k.dropPrivs(cancel, h, out.Fh, true); a != nil {
			out.Attr = *a
		}
	}
	return st
}
