package fusefs

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// toErrno turns an error of the mirror core into the errno the application sees. An error without an
// errno inside becomes EIO, never ENOTSUP: the application must know that something failed.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return syscall.Errno(e)
	}
	return syscall.EIO
}
