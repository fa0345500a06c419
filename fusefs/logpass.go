package fusefs

import (
	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// Log passthrough (Options.LogPassthrough, on by default): the engine's log files are served by
// kernel passthrough for writing too, so a commit costs one round trip (FSYNC) instead of two (WRITE,
// FSYNC). The kernel writes the primary's file itself; the mirror gets those bytes by capture, at the
// log's fsync and close (mirror/capture.go says why that keeps fsync's meaning and the order engines
// rely on). It applies only where capture sees every write:
//
//   - the file is a log as the engine names it (Berkeley DB: log.NNNNNNNNNN), appended only;
//   - the open has no O_SYNC/O_DSYNC: such a write would be durable on the primary and missed by the
//     mirror until the next fsync, and the application would never send that fsync;
//   - the file has no setuid/setgid bit: the kernel would clear it on the primary only.
//
// Everything else about a log (its creation, truncation, removal, attributes) still goes through the
// daemon. Writes through a shared writable mapping of a log, and pwritev2 with RWF_SYNC/RWF_DSYNC on
// it, are not mirrored until the log's next fsync or close (no engine does either; README says so).

// logPassthroughOpen reports whether an open of rel with flags may be served by passthrough for
// writing, before the file is opened. mode is the new file's mode for a create, or -1 to look it up.
func (n *node) logPassthroughOpen(rel string, flags uint32, mode int64) bool {
	if !n.modes.logs.Load() || flags&unix.O_DSYNC != 0 || !n.m.IsLog(rel) { // O_SYNC includes O_DSYNC
		return false
	}
	if mode < 0 {
		st, err := n.m.PrimaryLstat(rel)
		if err != nil {
			return false
		}
		mode = int64(st.Mode)
	}
	return mode&(unix.S_ISUID|unix.S_ISGID) == 0
}

// passthroughLogFile is the handle of an open of a log served by kernel passthrough: reads and
// writes go from the kernel to the primary's file directly; fsync, close and everything else reach
// the daemon, which captures the log's new bytes for the mirror.
type passthroughLogFile struct {
	mirroredFile
}

var _ = (fs.FilePassthroughFder)((*passthroughLogFile)(nil))

// PassthroughFd hands the kernel the primary's descriptor. The kernel opens its own backing file on
// that path with the flags of the application's open.
func (h *passthroughLogFile) PassthroughFd() (int, bool) { return h.f.P, true }
