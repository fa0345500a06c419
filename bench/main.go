package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/mirrorctl/mirrorctl/loopdisk"
)

// config is one way of serving the primary directory.
type config struct {
	name  string
	dir   string // where the workloads run, while it is set up
	setup func() (string, func(), error)
	pid   int // the serving process while it is set up, for CPU and memory (0: none)
}

// workload is one measurement; it returns a figure where higher is better and its unit.
type workload struct {
	name string
	unit string
	run  func(dir string) (float64, error)
	// limit is the kind of physical-limit probe whose both ÷ one gives its ideal mirror ("record",
	// "stream"), or "" for none.
	limit string
}

// regime is a pair of disks (primary and mirror) and the configurations served on them.
type regime struct {
	key, title string
	base       string // where the images, mounts and mount points live
	d1, d2     *loopFS
	configs    []*config
	notes      map[string]string // configurations not measured, and why
}

// The rows of the physical limit, measured on the regime's disks directly.
const (
	probeOne   = "append 256 B + fdatasync, primary's disk alone"
	probeBoth  = "append 256 B + fdatasync on both disks, in parallel on two threads"
	streamOne  = "write 1 MiB, fdatasync every 32 MiB, primary's disk alone"
	streamBoth = "write 1 MiB, fdatasync every 32 MiB, on both disks in parallel on two threads"
	filesOne   = "create + write 4 KiB + fsync file and directory + unlink, primary's disk alone"
	filesBoth  = "create + write 4 KiB + fsync file and directory + unlink, on both disks in parallel on two threads"
)

// probes are the physical limit's measurements: name, kind for `bench fsyncprobe`, unit, and whether
// they use both disks.
var probes = []struct {
	name, kind, unit string
	both             bool
}{
	{probeOne, "record", "records/s", false},
	{probeBoth, "record", "records/s", true},
	{streamOne, "stream", "MiB/s", false},
	{streamBoth, "stream", "MiB/s", true},
	{filesOne, "files", "files/s", false},
	{filesBoth, "files", "files/s", true},
}

var (
	mirrorctlBin = flag.String("mirrorctl", "bin/mirrorctl", "the mirrorctl binary")
	rounds       = flag.Int("rounds", 5, "interleaved rounds")
	seconds      = flag.Int("seconds", 1, "seconds per timed workload")
	outDir       = flag.String("out", "bench", "where results.md and results.svg go")
	regimeList   = flag.String("regimes", "disk,ram", "disk regimes: disk (loop-backed xfs on the host disk), ram (loop-backed xfs on files in /dev/shm)")
	threadList   = flag.String("threads", "1,4,16", "committing threads for the Berkeley DB rows")
	recoverySize = flag.String("recovery", "64,256,1024", "log history sizes in MiB for the promote benchmark (empty: skip)")
	copySize     = flag.Int("copy", 2048, "MiB of environment for initial sync against cp -a (0: skip)")
	resyncSize   = flag.Int("resync", 1024, "MiB of environment for the resync benchmark (0: skip); it is then doubled")
	resyncChange = flag.String("resync-changes", "16,64,256", "MiB changed while degraded, for the resync benchmark")
	throughput   = flag.Bool("throughput", true, "run the throughput workloads (false: only recovery and scale)")
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "smallfiles" {
		smallFilesChild(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "fsyncprobe" {
		if err := fsyncProbeChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	flag.Parse()
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

// results[regime][workload][config] holds one figure per round (NaN: not measured that round).
type results map[string]map[string]map[string][]float64

func (r results) put(regime, workload, config string, round int, v float64) {
	if r[regime] == nil {
		r[regime] = map[string]map[string][]float64{}
	}
	if r[regime][workload] == nil {
		r[regime][workload] = map[string][]float64{}
	}
	if r[regime][workload][config] == nil {
		r[regime][workload][config] = nanRounds(*rounds)
	}
	r[regime][workload][config][round] = v
}

func (r results) get(regime, workload, config string) []float64 {
	if v := r[regime][workload][config]; v != nil {
		return v
	}
	return nanRounds(*rounds)
}

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
	var regimes []*regime
	for _, key := range strings.Split(*regimeList, ",") {
		g, err := newRegime(strings.TrimSpace(key), bin)
		if err != nil {
			return err
		}
		regimes = append(regimes, g)
	}
	if len(regimes) == 0 {
		return fmt.Errorf("-regimes %q names no regime: give disk, ram or both", *regimeList)
	}
	threads, err := intList(*threadList, "-threads")
	if err != nil {
		return err
	}
	workloads := throughputWorkloads(bin, threads)
	res := results{}
	cpu := results{} // cpu[regime]["cpu"|"rss"][config]
	for r := 0; r < *rounds && *throughput; r++ {
		for _, g := range regimes {
			if err := measureRound(ctx, g, workloads, r, res, cpu); err != nil {
				return err
			}
		}
	}
	// The scale and failover benchmarks run on the first regime's disks only.
	d1, d2, base := regimes[0].d1, regimes[0].d2, regimes[0].base
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
		changes, err := intList(*resyncChange, "-resync-changes")
		if err != nil {
			return err
		}
		var bytes []int64
		for _, n := range changes {
			bytes = append(bytes, int64(n)<<20)
		}
		if resyncs, err = resyncBench(ctx, bin, base, d1, int64(*resyncSize)<<20, bytes); err != nil {
			return err
		}
	}
	var unlinks []unlinkRow
	if *unlinkLogs > 0 {
		if unlinks, err = unlinkBench(ctx, bin, base, d1, d2, *unlinkLogs); err != nil {
			return err
		}
	}
	var arch *archiveResult
	if *archiveOn {
		if arch, err = archiveBench(ctx, bin, regimes[0]); err != nil {
			return err
		}
	}
	return report(regimes, workloads, threads, res, cpu, rec, copies, resyncs, unlinks, arch)
}

func intList(s, flagName string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%s %q: %v", flagName, s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// bdbName is the row of Berkeley DB commits with values of size bytes from n threads; the one-thread
// rows keep the names they always had.
func bdbName(size, n int) string {
	name := "Berkeley DB sync commits, " + valueLabel(size) + " values"
	if n > 1 {
		name += fmt.Sprintf(", %d threads", n)
	}
	return name
}

func valueLabel(size int) string {
	if size%1024 == 0 {
		return fmt.Sprintf("%d KiB", size/1024)
	}
	return fmt.Sprintf("%d B", size)
}

func throughputWorkloads(bin string, threads []int) []workload {
	var ws []workload
	for _, size := range []int{256, 4096} {
		for _, n := range threads {
			ws = append(ws, workload{bdbName(size, n), "txn/s", func(d string) (float64, error) { return bdbTxns(bin, d, size, n) }, "record"})
		}
	}
	return append(ws,
		workload{"4 KiB random writes, fsync each", "IOPS", func(d string) (float64, error) { return fio(d, "randwrite", "4k", "--fsync=1", "--size=32m") }, ""},
		workload{"1 MiB sequential writes, fdatasync every 32 MiB", "MiB/s", func(d string) (float64, error) {
			return fio(d, "write", "1m", "--fdatasync=32", "--end_fsync=1", "--size=256m")
		}, "stream"},
		// fio drops the file's cached pages before it reads unless told not to; through FUSE that empties
		// only the mount's cache, not the primary's, so without --invalidate=0 native would read the disk
		// and the mounts the primary's cache.
		// The timed write before writes for a second, which on a slow disk is not the whole file, and
		// fio lays a file out with fallocate: the rest was never written, so through FUSE it is not in
		// the mount's page cache (each read goes to the daemon), while natively it reads as zeros.
		// One untimed pass writes all of it first.
		workload{"sequential reads (page cache)", "MiB/s", func(d string) (float64, error) {
			if _, err := fio(d, "write", "1m", "--size=256m", "--time_based=0"); err != nil {
				return 0, err
			}
			return fio(d, "read", "1m", "--size=256m", "--invalidate=0")
		}, ""},
		workload{"4 KiB random reads (page cache)", "IOPS", func(d string) (float64, error) { return fio(d, "randread", "4k", "--size=256m", "--invalidate=0") }, ""},
		workload{"sequential reads (disk, caches dropped)", "MiB/s", func(d string) (float64, error) {
			dropCaches()
			return fio(d, "read", "1m", "--size=256m", "--time_based=0") // one pass: every byte from the disk
		}, ""},
		workload{"create + fsync + unlink small files", "files/s", func(d string) (float64, error) { return smallFiles(d) }, "files"},
	)
}

// newRegime makes the two disks of a regime and its configurations.
func newRegime(key, bin string) (*regime, error) {
	g := &regime{key: key, notes: map[string]string{}}
	parent := ""
	switch key {
	case "disk":
		g.title = "loop-backed xfs on the host disk"
	case "ram":
		g.title = "loop-backed xfs on files in /dev/shm (RAM: fsync nearly free)"
		parent = "/dev/shm"
	default:
		return nil, fmt.Errorf("-regimes: unknown regime %q: give disk, ram or both", key)
	}
	base, err := os.MkdirTemp(parent, "mirrorctl-bench-"+key+"-")
	if err != nil {
		return nil, err
	}
	g.base = base
	atExit(func() { os.RemoveAll(base) })
	if g.d1, err = newLoopFS(base, "disk1", 4<<30); err != nil {
		return nil, err
	}
	if g.d2, err = newLoopFS(base, "disk2", 4<<30); err != nil {
		return nil, err
	}
	g.configs = []*config{
		{name: "native", setup: func() (string, func(), error) { return mkdirFresh(g.d1, "native") }},
		loopbackConfig("go-fuse loopback", base, g.d1, true),
		loopbackConfig("go-fuse loopback, no passthrough", base, g.d1, false),
		mirrorctlConfig("mirrorctl", bin, base, g.d1, g.d2),
		mirrorctlConfig("mirrorctl --log-passthrough=false", bin, base, g.d1, g.d2, "--log-passthrough=false"),
		mirrorctlConfig("mirrorctl --no-passthrough", bin, base, g.d1, g.d2, "--no-passthrough"),
		mirrorctlConfig("mirrorctl --passthrough-reads", bin, base, g.d1, g.d2, "--passthrough-reads"),
	}
	if c, why := btrfsConfig(base); c != nil {
		g.configs = append(g.configs, c)
	} else {
		fmt.Printf("skipping btrfs raid1: %s\n", why)
		g.notes["btrfs raid1 (kernel mirror)"] = why
	}
	return g, nil
}

// measureRound runs one round in a regime: the physical limit on its disks, then every
// configuration set up at once and every workload run on each in turn, so that the figures a ratio
// compares are seconds apart. The order of the configurations turns by one each round.
func measureRound(ctx context.Context, g *regime, workloads []workload, r int, res, cpu results) error {
	for _, p := range probes {
		dirs := []string{g.d1.dir}
		if p.both {
			dirs = append(dirs, g.d2.dir)
		}
		v, err := fsyncProbe(p.kind, dirs...)
		if err != nil {
			return err
		}
		res.put(g.key, p.name, "probe", r, v)
		fmt.Printf("round %d  %-4s %-36s %-42s %12.1f %s\n", r+1, g.key, "disks", p.name, v, p.unit)
	}
	var live []*config
	var teardowns []func()
	defer func() {
		for i := len(teardowns) - 1; i >= 0; i-- {
			teardowns[i]()
		}
	}()
	for _, c := range g.configs {
		dir, teardown, err := c.setup()
		if err != nil {
			fmt.Printf("skipping %s (%s): %v\n", c.name, g.key, err)
			g.notes[c.name] = err.Error()
			continue
		}
		c.dir = dir
		live = append(live, c)
		teardowns = append(teardowns, teardown)
	}
	if len(live) == 0 {
		return nil
	}
	order := append(live[r%len(live):], live[:r%len(live)]...)
	cpuBefore := map[string]float64{}
	for _, c := range live {
		cpuBefore[c.name] = procCPU(c.pid)
	}
	for _, w := range workloads {
		for _, c := range order {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := w.run(c.dir)
			if err != nil {
				return fmt.Errorf("%s on %s (%s): %w", w.name, c.name, g.key, err)
			}
			res.put(g.key, w.name, c.name, r, v)
			fmt.Printf("round %d  %-4s %-36s %-42s %12.1f %s\n", r+1, g.key, c.name, w.name, v, w.unit)
		}
	}
	for _, c := range live {
		if c.pid != 0 {
			cpu.put(g.key, "cpu", c.name, r, procCPU(c.pid)-cpuBefore[c.name])
			if rss := peakRSS(c.pid); rss > 0 {
				cpu.put(g.key, "rss", c.name, r, rss)
			}
		}
	}
	return nil
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
		tag := "loopback-passthrough"
		if !passthrough {
			tag = "loopback-plain"
		}
		dir, rm, err := mkdirFresh(d, tag)
		if err != nil {
			return "", nil, err
		}
		mp := filepath.Join(base, tag+"-mnt")
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

// mirrorctlConfig is a mirrorctl mount with the primary on disk1 and the mirror on disk2. Its
// directories and mount point are named after the options, so that several can be mounted at once.
func mirrorctlConfig(name, bin, base string, d1, d2 *loopFS, extra ...string) *config {
	c := &config{name: name}
	tag := strings.NewReplacer("--", "", "=", "-", " ", "", "/", "-", ":", "-").Replace("mirrorctl" + strings.Join(extra, "-"))
	c.setup = func() (string, func(), error) {
		p, rmp, err := mkdirFresh(d1, tag+"-primary")
		if err != nil {
			return "", nil, err
		}
		q := filepath.Join(d2.dir, tag+"-mirror")
		os.RemoveAll(q)
		mp := filepath.Join(base, tag+"-mnt")
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
		c.pid = cmd.Process.Pid
		return mp, func() {
			syscall.Unmount(mp, 0)
			cmd.Wait()
			c.pid = 0
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

// loopFS is a mounted file system: a loopdisk.Disk, or the btrfs mount.
type loopFS struct{ dir string }

// newLoopFS makes an xfs file system of size bytes on a loop device over an image in base, removed
// (unmounted, detached) at exit.
func newLoopFS(base, name string, size int64) (*loopFS, error) {
	dir := filepath.Join(base, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	d, err := loopdisk.New(dir, filepath.Join(base, name+".img"), size)
	if err != nil {
		return nil, err
	}
	atExit(func() {
		if err := d.Remove(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	})
	return &loopFS{dir: dir}, nil
}

func bdbTxns(bin, dir string, valueSize, threads int) (float64, error) {
	env := filepath.Join(dir, fmt.Sprintf("bdb%d-%d", valueSize, threads))
	os.RemoveAll(env)
	if err := os.Mkdir(env, 0o755); err != nil {
		return 0, err
	}
	defer os.RemoveAll(env)
	return bdbRun(bin, env, valueSize, threads)
}

// bdbRun runs the commit workload for -seconds in the environment directory env (made if new) and
// returns its commits per second.
func bdbRun(bin, env string, valueSize, threads int) (float64, error) {
	cmd := exec.Command(bin, "workload", "run", "--dir", env, "--duration", fmt.Sprintf("%ds", *seconds), "--value-size", strconv.Itoa(valueSize), "--checkpoint-every", "1000", "--threads", strconv.Itoa(threads))
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
	out, err := exec.Command(self, "smallfiles", dir, strconv.Itoa(*seconds)).Output()
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// smallFilesChild is `bench smallfiles DIR SECONDS`.
func smallFilesChild(args []string) {
	dir, secs := args[0], 2
	if len(args) > 1 {
		secs, _ = strconv.Atoi(args[1])
	}
	deadline := time.Now().Add(time.Duration(max(secs, 1)) * time.Second)
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

func procCPU(pid int) float64 {
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
