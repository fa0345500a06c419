// Package foreign watches the primary directory for changes made behind the mount's back: by a
// process other than the mount itself, writing the primary directly. It uses fanotify on the whole
// file system that holds the primary (FAN_MARK_FILESYSTEM), with directory file handles and names
// (FAN_REPORT_DFID_NAME), so that creates, removals and renames are seen as well as writes, and
// turns each event into a path below the primary's root.
//
// Invariants kept here:
//   - Every change the kernel reports below the root by another process reaches the caller, in the
//     kernel's order, as the path the entry has when the event is read; when the kernel dropped events
//     (queue overflow), or the watcher can no longer read, the caller is told that anything may have
//     changed (Change.Lost).
//   - The watching process's own changes (its thread group id) are never reported, nor are changes
//     outside the root: the mark covers the whole file system, the filter is here.
//   - An event in a directory that is gone by the time it is read is dropped: the directory's own
//     removal or rename is an event in its parent, which is reported.
//   - Close returns only once the reader goroutine has ended; no descriptor is left open.
//
// It only reads: it never writes to the watched file system, and it knows nothing of the mirror. It
// needs CAP_SYS_ADMIN (fanotify_mark on a file system) and CAP_DAC_READ_SEARCH (open_by_handle_at);
// where fanotify cannot watch, Watch says why (ErrUnavailable) and the caller goes on without it.
package foreign
