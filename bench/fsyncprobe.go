package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The physical limit: what the disks themselves allow. The record probe appends a 256 B record to a
// file and fdatasyncs it, in a loop, on the primary's disk alone; and on both disks, where each record
// is appended and fdatasynced on the primary's file on one OS thread and on the mirror's file on
// another, in parallel, and the record counts once both are durable. The stream probe does the same
// with batches of 32 writes of 1 MiB and one fdatasync (the 1 MiB sequential-write workload), cycling
// over 256 MiB. The files probe creates a file, writes 4 KiB, fsyncs it and its directory (which a
// mirror must, for the entry to be durable on both disks), closes and removes it. No mirror can go
// faster than the second rate of each (the files probe's both sides even run fully in parallel,
// which a mirror cannot: it must see the primary's answer to a namespace change before it applies it
// to the mirror); a perfect one loses to native only what the first rate loses to the second.

const (
	probeRecord = 256
	streamBlock = 1 << 20 // one write of the stream probe
	streamBatch = 32      // writes per fdatasync
	streamSpan  = 256     // blocks the stream cycles over, as fio's --size=256m
)

// fsyncProbe runs the probe of kind ("record" or "stream") in a child process for the -seconds
// setting and returns records/s or MiB/s.
func fsyncProbe(kind string, dirs ...string) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	args := append([]string{"fsyncprobe", strconv.Itoa(*seconds), kind}, dirs...)
	var errb bytes.Buffer
	cmd := exec.Command(self, args...)
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("fsyncprobe %v: %v: %s", dirs, err, strings.TrimSpace(errb.String()))
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// fsyncProbeChild is `bench fsyncprobe SECONDS record|stream DIR [DIR2]`: it prints records/s
// (record) or MiB/s (stream) on stdout.
func fsyncProbeChild(args []string) error {
	kind := args[1]
	if len(args) < 3 || len(args) > 4 || kind != "record" && kind != "stream" && kind != "files" {
		return fmt.Errorf("usage: bench fsyncprobe SECONDS record|stream|files DIR [MIRRORDIR]")
	}
	secs, err := strconv.Atoi(args[0])
	if err != nil || secs <= 0 {
		return fmt.Errorf("fsyncprobe: %q is not a number of seconds", args[0])
	}
	stream := kind == "stream"
	var files []*os.File // the probe's file on each disk; for the files probe, its directory
	for _, d := range args[2:] {
		if kind == "files" {
			dir, err := os.Open(d)
			if err != nil {
				return err
			}
			defer dir.Close()
			files = append(files, dir)
			continue
		}
		p := filepath.Join(d, "fsyncprobe.log")
		flags := os.O_CREATE | os.O_TRUNC | os.O_WRONLY | os.O_APPEND
		if stream {
			flags &^= os.O_APPEND // WriteAt: the stream cycles over its span
		}
		f, err := os.OpenFile(p, flags, 0o644)
		if err != nil {
			return err
		}
		defer os.Remove(p)
		defer f.Close()
		files = append(files, f)
	}
	rec := bytes.Repeat([]byte("r"), probeRecord-1)
	rec = append(rec, '\n')
	step := func(f *os.File, _ int) error { return appendSync(f, rec) }
	unit := 1.0 // records per step
	switch kind {
	case "stream":
		block := bytes.Repeat([]byte("s"), streamBlock)
		step = func(f *os.File, i int) error { return batchSync(f, block, i) }
		unit = streamBatch * streamBlock / (1 << 20) // MiB per step
	case "files":
		page := bytes.Repeat([]byte("f"), 4096)
		step = func(dir *os.File, i int) error { return smallFileSync(dir, page, i) }
	}
	runtime.LockOSThread() // the primary's steps on this thread
	var mirror *syncThread
	if len(files) == 2 {
		mirror = startSyncThread(files[1], step)
		defer mirror.stop()
	}
	start := time.Now()
	deadline := start.Add(time.Duration(secs) * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		if mirror != nil {
			mirror.req <- n
		}
		err := step(files[0], n)
		if mirror != nil {
			if merr := <-mirror.done; err == nil {
				err = merr
			}
		}
		if err != nil {
			return err
		}
		n++
	}
	fmt.Printf("%f\n", float64(n)*unit/time.Since(start).Seconds())
	return nil
}

func appendSync(f *os.File, rec []byte) error {
	if _, err := f.Write(rec); err != nil {
		return fmt.Errorf("append to %s: %w", f.Name(), err)
	}
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
	}
	return nil
}

// batchSync writes batch i of the stream probe: streamBatch blocks, cycling over streamSpan blocks,
// then one fdatasync.
func batchSync(f *os.File, block []byte, i int) error {
	for j := 0; j < streamBatch; j++ {
		off := int64((i*streamBatch+j)%streamSpan) * streamBlock
		if _, err := f.WriteAt(block, off); err != nil {
			return fmt.Errorf("write to %s: %w", f.Name(), err)
		}
	}
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
	}
	return nil
}

// smallFileSync is step i of the files probe in dir.
func smallFileSync(dir *os.File, data []byte, i int) error {
	p := filepath.Join(dir.Name(), fmt.Sprintf("fsyncprobe%d", i))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = dir.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(p); err == nil {
		err = rerr
	}
	return err
}

// syncThread runs one step of the probe on the mirror's file, on its own locked OS thread, each time
// it is asked.
type syncThread struct {
	req  chan int
	done chan error
}

func startSyncThread(f *os.File, step func(*os.File, int) error) *syncThread {
	t := &syncThread{req: make(chan int), done: make(chan error)}
	go func() {
		runtime.LockOSThread()
		for i := range t.req {
			t.done <- step(f, i)
		}
	}()
	return t
}

// stop ends the thread's goroutine (it is idle between records).
func (t *syncThread) stop() { close(t.req) }
