package fusefs

import (
	"fmt"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/mirrorctl/mirrorctl/mirror"
)

// Options are the optional settings of a mount.
type Options struct {
	// AllowOther lets users other than the mounting one in, with the kernel checking permissions
	// (default_permissions). Needs root or user_allow_other in /etc/fuse.conf.
	AllowOther bool
	Debug      bool
	// DisablePassthrough turns kernel passthrough off even for unmirrored files.
	DisablePassthrough bool
	// PassthroughReads lets read-only opens of mirrored files use kernel passthrough (see iomode.go);
	// it takes effect only where the kernel offers passthrough and the daemon runs as root.
	PassthroughReads bool
	// LogPassthrough serves the engine's log files by kernel passthrough, reads and writes, with
	// their writes captured for the mirror at fsync and close (logpass.go); it takes effect only where
	// the kernel offers passthrough and the daemon runs as root.
	LogPassthrough bool
}

// Mount serves m.Primary at mountpoint with every change mirrored through m. The caller waits on the
// returned server and unmounts it.
func Mount(mountpoint string, m *mirror.Mirror, o Options) (*fuse.Server, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(m.Primary, &st); err != nil {
		return nil, fmt.Errorf("stat primary %s: %w", m.Primary, err)
	}
	data := &fs.LoopbackRoot{Path: m.Primary, Dev: uint64(st.Dev)}
	modes := newIOModes()
	root := &node{LoopbackNode: &fs.LoopbackNode{RootData: data}, m: m, modes: modes}
	data.RootNode = root

	timeout := time.Second
	mo := fuse.MountOptions{
		FsName:      m.Primary,
		Name:        "mirrorctl", // the mount table shows fuse.mirrorctl (host.MirrorctlFSType)
		AllowOther:  o.AllowOther,
		Debug:       o.Debug,
		DirectMount: syscall.Geteuid() == 0,
		MaxWrite:    1 << 20,
		// Every change to the primary comes through this mount and its page cache, so the cache is
		// always right: keep it across opens (FOPEN_KEEP_CACHE) and do not drop it when the kernel
		// sees a new mtime, which our own writes cause.
		ExplicitDataCacheControl: true,
	}
	if o.AllowOther {
		mo.Options = append(mo.Options, "default_permissions")
	}
	if o.DisablePassthrough {
		mo.DisabledCapabilities |= fuse.CAP_PASSTHROUGH
	}
	// The daemon clears setuid/setgid itself (killpriv.go), so the kernel sends no GETXATTR before
	// each write.
	mo.ExtraCapabilities |= fuse.CAP_HANDLE_KILLPRIV_V2
	nodes := fs.NewNodeFS(root, &fs.Options{
		MountOptions: mo,
		EntryTimeout: &timeout,
		AttrTimeout:  &timeout,
		// Show modes as they are: without this go-fuse reports a file of mode 0000 as 0644 (and a
		// directory as 0755), which the kernel then enforces with default_permissions.
		NullPermissions: true,
	})
	server, err := fuse.NewServer(&killPrivFS{RawFileSystem: nodes}, mountpoint, &mo)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil { // as fs.Mount: the serve loop ends with the failed mount
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	// go-fuse registers backing files only as root, and only if the kernel offered passthrough.
	offered := server.KernelSettings().Flags64()&fuse.CAP_PASSTHROUGH != 0
	usable := !o.DisablePassthrough && offered && syscall.Geteuid() == 0
	// With failover the daemon must see every read and write of a mirrored file: the kernel's own
	// would go to the primary's descriptor, which a switch to the mirror cannot take back.
	mirroredUsable := usable && !m.FailoverEnabled()
	modes.enabled.Store(o.PassthroughReads && mirroredUsable)
	modes.logs.Store(o.LogPassthrough && mirroredUsable)
	return server, nil
}
