package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// config is one way of serving the primary directory.
type config struct {
	name  string
	dir   string // where the workloads run
	setup func() (string, func(), error)
	pid   func() int // the serving process, for CPU and memory (0: none)
	note  string
}

// workload is one measurement; it returns a figure where higher is better and its unit.
type workload struct {
	name string
	unit string
	run  func(dir string) (float64, error)
}

var (
	mirrorctlBin = flag.String("mirrorctl", "bin/mirrorctl", "the mirrorctl binary")
	rounds       = flag.Int("rounds", 3, "interleaved rounds")
	seconds      = flag.Int("seconds", 2, "seconds per timed workload")
	outDir       = flag.String("out", "bench", "where results.md and results.svg go")
	recoverySize = flag.String("recovery", "64,256,1024", "log history sizes in MiB for the promote benchmark (empty: skip)")
	copySize     = flag.Int("copy", 2048, "MiB of environment for initial sync against cp -a (0: skip)")
	resyncSize   = flag.Int("resync", 1024, "MiB of environment for the resync benchmark (0: skip); it is then doubled")
	resyncChange = flag.String("resync-changes", "16,64,256", "MiB changed while degraded, for the resync benchmark")
	throughput   = flag.Bool("throughput", true, "run the throughput workloads (false: only recovery and scale)")
)

func main() {
	flag.Parse()
	if len(os.Args) > 2 && os.Args[1] == "smallfiles" {
		smallFilesChild(os.Args[2])
		return
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (loop devices, mounts): run it with sudo make bench")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// cleanups run in reverse order at the end, also after an error.
var cleanups []func()

func atExit(f func()) { cleanups = append(cleanups, f) }

func run(ctx context.Context) error {
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	bin, err := filepath.Abs(*mirrorctlBin)
	if err != nil {
		return err
	}
	base, err := os.MkdirTemp("", "mirrorctl-bench-")
	if err != nil {
		return err
	}
	atExit(func() { os.RemoveAll(base) })
	d1, err := newLoopFS(base, "disk1", 4<<30, "xfs")
	if err != nil {
		return err
	}
	d2, err := newLoopFS(base, "disk2", 4<<30, "xfs")
	if err != nil {
		return err
	}
	var mountPID int
	configs := []*config{
		{name: "native", setup: func() (string, func(), error) { return mkdirFresh(d1, "native") }},
		loopbackConfig("go-fuse loopback", base, d1, true),
		loopbackConfig("go-fuse loopback, no passthrough", base, d1, false),
		mirrorctlConfig("mirrorctl", bin, base, d1, d2, &mountPID),
		mirrorctlConfig("mirrorctl --on-mirror-error=fail", bin, base, d1, d2, &mountPID, "--on-mirror-error", "fail"),
		mirrorctlConfig("mirrorctl --no-passthrough", bin, base, d1, d2, &mountPID, "--no-passthrough"),
		mirrorctlConfig("mirrorctl --passthrough-reads", bin, base, d1, d2, &mountPID, "--passthrough-reads"),
	}
	if c, why := btrfsConfig(base); c != nil {
		configs = append(configs, c)
	} else {
		fmt.Printf("skipping btrfs raid1: %s\n", why)
	}
	workloads := []workload{
		{"Berkeley DB sync commits, 256 B values", "txn/s", func(d string) (float64, error) { return bdbTxns(bin, d, 256) }},
		{"Berkeley DB sync commits, 4 KiB values", "txn/s", func(d string) (float64, error) { return bdbTxns(bin, d, 4096) }},
		{"4 KiB random writes, fsync each", "IOPS", func(d string) (float64, error) { return fio(d, "randwrite", "4k", "--fsync=1", "--size=32m") }},
		{"1 MiB sequential writes, fdatasync every 32 MiB", "MiB/s", func(d string) (float64, error) {
			return fio(d, "write", "1m", "--fdatasync=32", "--end_fsync=1", "--size=256m")
		}},
		// fio drops the file's cached pages before it reads unless told not to; through FUSE that empties
		// only the mount's cache, not the primary's, so without --invalidate=0 native would read the disk
		// and the mounts the primary's cache.
		{"sequential reads (page cache)", "MiB/s", func(d string) (float64, error) { return fio(d, "read", "1m", "--size=256m", "--invalidate=0") }},
		{"4 KiB random reads (page cache)", "IOPS", func(d string) (float64, error) { return fio(d, "randread", "4k", "--size=256m", "--invalidate=0") }},
		{"sequential reads (disk, caches dropped)", "MiB/s", func(d string) (float64, error) {
			dropCaches()
			return fio(d, "read", "1m", "--size=256m", "--time_based=0") // one pass: every byte from the disk
		}},
		{"create + fsync + unlink small files", "files/s", func(d string) (float64, error) { return smallFiles(d) }},
	}
	// results[workload][config] = figures over rounds
	results := map[string]map[string][]float64{}
	cpu := map[string][]float64{}
	for r := 0; r < *rounds && *throughput; r++ {
		for _, c := range configs {
			if err := ctx.Err(); err != nil {
				return err
			}
			dir, teardown, err := c.setup()
			if err != nil {
				fmt.Printf("skipping %s: %v\n", c.name, err)
				c.note = err.Error()
				continue
			}
			cpuBefore := procCPU(mountPID, c)
			for _, w := range workloads {
				v, err := w.run(dir)
				if err != nil {
					teardown()
					return fmt.Errorf("%s on %s: %w", w.name, c.name, err)
				}
				if results[w.name] == nil {
					results[w.name] = map[string][]float64{}
				}
				results[w.name][c.name] = append(results[w.name][c.name], v)
				fmt.Printf("round %d  %-36s %-42s %12.1f %s\n", r+1, c.name, w.name, v, w.unit)
			}
			if strings.HasPrefix(c.name, "mirrorctl") && mountPID != 0 {
				cpu[c.name] = append(cpu[c.name], procCPU(mountPID, c)-cpuBefore)
				if rss := peakRSS(mountPID); rss > 0 {
					cpu[c.name+" rss"] = append(cpu[c.name+" rss"], rss)
				}
			}
			teardown()
		}
	}
	var rec []recoveryRow
	if *recoverySize != "" {
		rec, err = recoveryBench(ctx, bin, d1, d2)
		if err != nil {
			return err
		}
	}
	var copies []copyRow
	if *copySize > 0 {
		if copies, err = copyBench(ctx, bin, d1, d2, int64(*copySize)<<20); err != nil {
			return err
		}
	}
	var resyncs []resyncRow
	if *resyncSize > 0 {
		var changes []int64
		for _, s := range strings.Split(*resyncChange, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("-resync-changes %q: %v", *resyncChange, err)
			}
			changes = append(changes, int64(n)<<20)
		}
		if resyncs, err = resyncBench(ctx, bin, base, d1, int64(*resyncSize)<<20, changes); err != nil {
			return err
		}
	}
	var unlinks []unlinkRow
	if *unlinkLogs > 0 {
		if unlinks, err = unlinkBench(ctx, bin, base, d1, d2, *unlinkLogs); err != nil {
			return err
		}
	}
	return report(configs, workloads, results, cpu, rec, copies, resyncs, unlinks)
}

func mkdirFresh(d *loopFS, name string) (string, func(), error) {
	dir := filepath.Join(d.dir, name)
	os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// loopbackConfig is go-fuse's own loopback, served by this process (the workloads run in child
// processes, so nothing here uses the mount it serves).
func loopbackConfig(name, base string, d *loopFS, passthrough bool) *config {
	c := &config{name: name}
	c.setup = func() (string, func(), error) {
		dir, rm, err := mkdirFresh(d, "loopback")
		if err != nil {
			return "", nil, err
		}
		mp := filepath.Join(base, "lbmnt")
		os.Mkdir(mp, 0o755)
		root, err := fs.NewLoopbackRoot(dir)
		if err != nil {
			rm()
			return "", nil, err
		}
		mo := fuse.MountOptions{AllowOther: true, Options: []string{"default_permissions"}, DirectMount: true, Name: "loopback", MaxWrite: 1 << 20}
		if !passthrough {
			mo.DisabledCapabilities |= fuse.CAP_PASSTHROUGH
		}
		server, err := fs.Mount(mp, root, &fs.Options{MountOptions: mo})
		if err != nil {
			rm()
			return "", nil, err
		}
		return mp, func() { server.Unmount(); rm() }, nil
	}
	return c
}

// mirrorctlConfig is a mirrorctl mount with the primary on disk1 and the mirror on disk2.
func mirrorctlConfig(name, bin, base string, d1, d2 *loopFS, pid *int, extra ...string) *config {
	c := &config{name: name}
	c.setup = func() (string, func(), error) {
		p, rmp, err := mkdirFresh(d1, "primary")
		if err != nil {
			return "", nil, err
		}
		q := filepath.Join(d2.dir, "mirror")
		os.RemoveAll(q)
		mp := filepath.Join(base, "mcmnt")
		os.Mkdir(mp, 0o755)
		args := append([]string{"mount", "--primary", p, "--mirror", q, "--resync-interval", "0"}, extra...)
		cmd := exec.Command(bin, append(args, mp)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			rmp()
			return "", nil, err
		}
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(out.String(), "serving ") {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				rmp()
				return "", nil, fmt.Errorf("mount did not start: %s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		*pid = cmd.Process.Pid
		return mp, func() {
			syscall.Unmount(mp, 0)
			cmd.Wait()
			*pid = 0
			rmp()
			os.RemoveAll(q)
		}, nil
	}
	return c
}

// btrfsConfig is btrfs raid1 (data and metadata) over two loop devices: the kernel's own mirror.
func btrfsConfig(base string) (*config, string) {
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		return nil, "mkfs.btrfs is not installed (apt-get install btrfs-progs)"
	}
	var devs []string
	for i := 0; i < 2; i++ {
		img := filepath.Join(base, fmt.Sprintf("btrfs%d.img", i))
		f, err := os.Create(img)
		if err != nil {
			return nil, err.Error()
		}
		f.Truncate(2 << 30)
		f.Close()
		out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
		if err != nil {
			return nil, "losetup: " + string(out)
		}
		dev := strings.TrimSpace(string(out))
		atExit(func() { exec.Command("losetup", "-d", dev).Run() })
		devs = append(devs, dev)
	}
	if out, err := exec.Command("mkfs.btrfs", append([]string{"-q", "-f", "-d", "raid1", "-m", "raid1"}, devs...)...).CombinedOutput(); err != nil {
		return nil, "mkfs.btrfs: " + string(out)
	}
	mnt := filepath.Join(base, "btrfs")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", devs[0], mnt).CombinedOutput(); err != nil {
		return nil, "mount btrfs: " + string(out)
	}
	atExit(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	d := &loopFS{dir: mnt}
	return &config{name: "btrfs raid1 (kernel mirror)", setup: func() (string, func(), error) { return mkdirFresh(d, "env") }}, ""
}

// loopFS is a file system on a loop device.
type loopFS struct{ dir string }

func newLoopFS(base, name string, size int64, fstype string) (*loopFS, error) {
	img := filepath.Join(base, name+".img")
	f, err := os.Create(img)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		return nil, err
	}
	f.Close()
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	atExit(func() { exec.Command("losetup", "-d", dev).Run() })
	if out, err := exec.Command("mkfs."+fstype, "-q", "-f", dev).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mkfs: %v: %s", err, out)
	}
	dir := filepath.Join(base, name)
	os.Mkdir(dir, 0o755)
	if out, err := exec.Command("mount", dev, dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mount: %v: %s", err, out)
	}
	atExit(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return &loopFS{dir: dir}, nil
}

func bdbTxns(bin, dir string, valueSize int) (float64, error) {
	env := filepath.Join(dir, fmt.Sprintf("bdb%d", valueSize))
	os.RemoveAll(env)
	if err := os.Mkdir(env, 0o755); err != nil {
		return 0, err
	}
	defer os.RemoveAll(env)
	cmd := exec.Command(bin, "workload", "run", "--dir", env, "--duration", fmt.Sprintf("%ds", *seconds), "--value-size", strconv.Itoa(valueSize), "--checkpoint-every", "1000")
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%v: %s", err, errb.String())
	}
	var st struct {
		PerSecond float64 `json:"per_second"`
	}
	line := errb.String()
	if i := strings.Index(line, "{"); i >= 0 {
		line = line[i:]
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(strings.SplitN(line, "\n", 2)[0])), &st); err != nil {
		return 0, fmt.Errorf("workload output %q: %v", errb.String(), err)
	}
	return st.PerSecond, nil
}

// fio runs one fio job and returns IOPS (4k jobs) or MiB/s.
func fio(dir, rw, bs string, extra ...string) (float64, error) {
	args := append([]string{"--name=bench", "--directory=" + dir, "--rw=" + rw, "--bs=" + bs, "--ioengine=psync",
		"--runtime=" + strconv.Itoa(*seconds), "--time_based", "--output-format=json", "--filename=fio.data"}, extra...)
	out, err := exec.Command("fio", args...).Output()
	if err != nil {
		return 0, fmt.Errorf("fio %v: %v", args, err)
	}
	var res struct {
		Jobs []struct {
			Read, Write struct {
				IOPS float64 `json:"iops"`
				BW   float64 `json:"bw"` // KiB/s
			}
		}
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Jobs) == 0 {
		return 0, fmt.Errorf("fio output: %v", err)
	}
	j := res.Jobs[0]
	io := j.Write
	if strings.Contains(rw, "read") {
		io = j.Read
	}
	if bs == "4k" {
		return io.IOPS, nil
	}
	return io.BW / 1024, nil
}

// smallFiles runs the create+fsync+unlink loop in a child process (never in the process that serves
// a loopback mount).
func smallFiles(dir string) (float64, error) {
	self, _ := os.Executable()
	out, err := exec.Command(self, "smallfiles", dir).Output()
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

func smallFilesChild(dir string) {
	flag.CommandLine.Parse(nil)
	deadline := time.Now().Add(2 * time.Second)
	start := time.Now()
	n := 0
	buf := bytes.Repeat([]byte("x"), 4096)
	for time.Now().Before(deadline) {
		p := filepath.Join(dir, fmt.Sprintf("small%d", n))
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		f.Write(buf)
		f.Sync()
		f.Close()
		os.Remove(p)
		n++
	}
	fmt.Printf("%f\n", float64(n)/time.Since(start).Seconds())
}

func procCPU(pid int, c *config) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // clock ticks (100 Hz) to seconds
}

func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func median(v []float64) (med, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}

var _ = errors.New
var _ = runtime.NumCPU
