package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The scale benchmarks: the initial copy of a multi-GiB environment by `mirrorctl sync` against
// `cp -a` (both made durable, both reading a cold page cache), and `resync` after a degraded period
// against the amount of data changed meanwhile.

// copyRow is one initial-copy measurement.
type copyRow struct {
	Tool    string
	Size    int64
	Elapsed []time.Duration
}

// resyncRow is one resync measurement.
type resyncRow struct {
	EnvBytes     int64 // the environment's size
	Changed      int64 // bytes written while degraded
	DirtyBytes   int64 // the size of the files those writes touched (what resync compares)
	Elapsed      time.Duration
	BytesCopied  int64
	PathsResyncd int
}

// makeEnvironment writes a Berkeley-DB-shaped tree of about size bytes under dir: a few large
// database files, many 10 MiB log files, and small files. Content is random, so nothing compresses.
func makeEnvironment(dir string, size int64, seed int64) error {
	rnd := rand.New(rand.NewSource(seed))
	block := make([]byte, 1<<20)
	write := func(name string, n int64) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		for left := n; left > 0; left -= int64(len(block)) {
			rnd.Read(block)
			k := min(left, int64(len(block)))
			if _, err := f.Write(block[:k]); err != nil {
				f.Close()
				return err
			}
		}
		return f.Close()
	}
	if err := os.MkdirAll(filepath.Join(dir, "small"), 0o755); err != nil {
		return err
	}
	dbs := size * 6 / 10 // 60% in four databases, 35% in logs, the rest small files
	for i := 0; i < 4; i++ {
		if err := write(fmt.Sprintf("table%d.db", i), dbs/4); err != nil {
			return err
		}
	}
	for i, left := 1, size*35/100; left > 0; i, left = i+1, left-10<<20 {
		if err := write(fmt.Sprintf("log.%010d", i), min(left, 10<<20)); err != nil {
			return err
		}
	}
	for i, left := 0, size-dbs-size*35/100; left > 0; i, left = i+1, left-8192 {
		if err := write(fmt.Sprintf("small/f%05d", i), 8192); err != nil {
			return err
		}
	}
	return nil
}

func treeSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// dropCaches writes back everything and empties the page cache, so the next copy reads the disk.
func dropCaches() {
	syscall.Sync()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

// copyBench times `cp -a` + syncfs of the target against `mirrorctl sync --files` (which is durable
// when it returns), interleaved, from d1 to d2.
func copyBench(ctx context.Context, bin string, d1, d2 *loopFS, size int64) ([]copyRow, error) {
	src := filepath.Join(d1.dir, "scale-env")
	os.RemoveAll(src)
	if err := os.Mkdir(src, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(src)
	if err := makeEnvironment(src, size, 1); err != nil {
		return nil, fmt.Errorf("making the environment: %w", err)
	}
	real := treeSize(src)
	dst := filepath.Join(d2.dir, "scale-copy")
	defer os.RemoveAll(dst)
	rows := []copyRow{{Tool: "cp -a, then sync -f", Size: real}, {Tool: "mirrorctl sync --files", Size: real}}
	for r := 0; r < *rounds; r++ {
		for i := range rows {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			os.RemoveAll(dst)
			dropCaches()
			var cmd *exec.Cmd
			if i == 0 {
				cmd = exec.CommandContext(ctx, "sh", "-c", `cp -a "$1" "$2" && sync -f "$2"`, "cp", src, dst)
			} else {
				cmd = exec.CommandContext(ctx, bin, "sync", "--files", "--no-progress", "--primary", src, "--mirror", dst)
			}
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("%s: %v: %s", rows[i].Tool, err, out)
			}
			el := time.Since(start)
			rows[i].Elapsed = append(rows[i].Elapsed, el)
			fmt.Printf("copy      %-28s %s in %s (%.0f MiB/s)\n", rows[i].Tool, humanBytes(real), el.Round(time.Millisecond), float64(real)/(1<<20)/el.Seconds())
		}
	}
	return rows, nil
}

// resyncBench mounts an environment with its mirror on a file system of its own, then for each
// amount of change: fills that file system up, writes the change through the mount (new log files,
// like a database's log: the first fails on the mirror with ENOSPC and the mount degrades; then a few
// pages of one database), frees the space, and times `mirrorctl resync`. Then it doubles the environment with files that do not
// change and measures the largest change again, to show what the time depends on.
func resyncBench(ctx context.Context, bin, base string, d1 *loopFS, envSize int64, changes []int64) ([]resyncRow, error) {
	img := filepath.Join(base, "resyncdisk.img")
	f, err := os.Create(img)
	if err != nil {
		return nil, err
	}
	f.Truncate(4*envSize + 1<<30)
	f.Close()
	defer os.Remove(img)
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", dev).Run()
	if out, err := exec.Command("mkfs.xfs", "-q", "-f", dev).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mkfs: %v: %s", err, out)
	}
	mdisk := filepath.Join(base, "resyncdisk")
	os.Mkdir(mdisk, 0o755)
	if out, err := exec.Command("mount", dev, mdisk).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mount: %v: %s", err, out)
	}
	defer func() {
		for i := 0; i < 20 && syscall.Unmount(mdisk, 0) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		syscall.Unmount(mdisk, syscall.MNT_DETACH)
	}()

	env := filepath.Join(d1.dir, "resync-env")
	os.RemoveAll(env)
	if err := os.Mkdir(env, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(env)
	if err := makeEnvironment(env, envSize, 2); err != nil {
		return nil, err
	}
	mp := filepath.Join(base, "resyncmnt")
	os.Mkdir(mp, 0o755)
	cmd := exec.Command(bin, "mount", "--no-progress", "--resync-interval", "0", "--primary", env, "--mirror", filepath.Join(mdisk, "m"), mp)
	var mout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &mout, &mout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		syscall.Unmount(mp, 0)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			syscall.Unmount(mp, syscall.MNT_DETACH)
			<-done
		}
	}()
	for deadline := time.Now().Add(5 * time.Minute); !strings.Contains(mout.String(), "serving "); {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("mount did not start: %s", mout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	rnd := rand.New(rand.NewSource(3))
	next := 100000
	measure := func(changed int64) (resyncRow, error) {
		row := resyncRow{EnvBytes: treeSize(env), Changed: changed}
		// The mirror's disk fills up: a filler file takes all but a little of its free space, so the
		// first new log file fails there (ENOSPC) and the mount degrades.
		filler := filepath.Join(mdisk, "filler")
		var sfs syscall.Statfs_t
		if err := syscall.Statfs(mdisk, &sfs); err != nil {
			return row, err
		}
		free := int64(sfs.Bavail) * sfs.Bsize
		if out, err := exec.Command("fallocate", "-l", fmt.Sprint(free-256<<10), filler).CombinedOutput(); err != nil {
			return row, fmt.Errorf("fallocate: %v: %s", err, out)
		}
		block := make([]byte, 1<<20)
		for left := changed - 16*4096; left > 0; left -= 10 << 20 {
			lf, err := os.Create(filepath.Join(mp, fmt.Sprintf("log.%010d", next)))
			if err != nil {
				return row, err
			}
			next++
			for k := min(left, 10<<20); k > 0; k -= int64(len(block)) {
				rnd.Read(block)
				if _, err := lf.Write(block[:min(k, int64(len(block)))]); err != nil {
					lf.Close()
					return row, err
				}
			}
			lf.Sync()
			lf.Close()
			row.DirtyBytes += min(left, 10<<20)
		}
		if err := exec.Command(bin, "status", mp).Run(); err == nil {
			return row, fmt.Errorf("the mount did not degrade when its mirror's disk filled up")
		}
		// Then a few pages of one database, which is now out of date on the mirror too.
		db := filepath.Join(mp, "table0.db")
		fd, err := os.OpenFile(db, os.O_WRONLY, 0)
		if err != nil {
			return row, err
		}
		page := make([]byte, 4096)
		for i := 0; i < 16; i++ {
			rnd.Read(page)
			if _, err := fd.WriteAt(page, rnd.Int63n(envSize*15/100/4096)*4096); err != nil {
				fd.Close()
				return row, err
			}
		}
		fd.Sync()
		fd.Close()
		st, _ := os.Stat(db)
		row.DirtyBytes += st.Size()
		// Room again on the mirror's disk.
		if err := os.Remove(filler); err != nil {
			return row, err
		}
		syscall.Sync()
		start := time.Now()
		out, err := exec.CommandContext(ctx, bin, "resync", "--json", "--no-progress", mp).Output()
		if err != nil {
			return row, fmt.Errorf("resync: %v: %s\n%s", err, out, mout.String())
		}
		row.Elapsed = time.Since(start)
		var res struct {
			Paths int   `json:"paths"`
			Bytes int64 `json:"bytes_copied"`
		}
		json.Unmarshal(out, &res)
		row.PathsResyncd, row.BytesCopied = res.Paths, res.Bytes
		fmt.Printf("resync    env %s, %s changed (files touched: %s): %s, %d paths, %s copied\n", humanBytes(row.EnvBytes),
			humanBytes(changed), humanBytes(row.DirtyBytes), row.Elapsed.Round(time.Millisecond), res.Paths, humanBytes(res.Bytes))
		return row, nil
	}
	var rows []resyncRow
	for _, ch := range changes {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		row, err := measure(ch)
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
	// Twice the environment, through the mount so the mirror has it too; the same largest change.
	extra := filepath.Join(mp, "archive")
	if err := os.Mkdir(extra, 0o755); err != nil {
		return rows, err
	}
	if err := makeEnvironment(extra, envSize, 4); err != nil {
		return rows, err
	}
	row, err := measure(changes[len(changes)-1])
	if err != nil {
		return rows, err
	}
	return append(rows, row), nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}
