package meta

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// Explain turns a file-system error (*fs.PathError, *os.LinkError) into one line that names the
// operation and the path once, what went wrong, and what to do: "open X/.mirrorctl/mirror.json:
// permission denied: run mirrorctl as root or as the owner of the directory". Wrapping such an
// error with its path again ("read X: open X: …") says the path twice and no fix. Other errors are
// returned as they are; errors.Is and errors.As see through the result.
func Explain(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	var what string
	var errno error
	switch {
	case errors.As(err, &pe):
		what, errno = pe.Op+" "+pe.Path, pe.Err
	case errors.As(err, &le):
		what, errno = le.Op+" "+le.Old+" to "+le.New, le.Err
	default:
		return err
	}
	return &explained{msg: what + ": " + errno.Error() + fixFor(errno), err: err}
}

type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// fixFor is what an operator does about errno, as ": the fix", or "" when there is nothing general
// to say.
func fixFor(errno error) string {
	switch {
	case errors.Is(errno, syscall.EACCES), errors.Is(errno, syscall.EPERM):
		return ": run mirrorctl as root or as the owner of the directory"
	case errors.Is(errno, syscall.ENOSPC), errors.Is(errno, syscall.EDQUOT):
		return ": free space on that file system, then try again"
	case errors.Is(errno, syscall.EROFS):
		return ": the file system is read-only: remount it read-write"
	case errors.Is(errno, syscall.ENOTDIR):
		return ": a part of that path is a file where a directory belongs: give a directory, or move the file aside"
	case errors.Is(errno, syscall.EISDIR):
		return ": a directory stands where a file belongs: move it aside"
	case errors.Is(errno, syscall.ELOOP):
		return ": a symbolic link is in the way: move it aside"
	case errors.Is(errno, syscall.EIO):
		return ": the disk fails: check it (dmesg), repair or replace it"
	case errors.Is(errno, syscall.ENAMETOOLONG):
		return ": the path is too long: use a shorter one"
	}
	return ""
}
