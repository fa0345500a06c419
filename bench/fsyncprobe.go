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

// The physical limit: what the disks themselves allow a log that commits one record at a time. The
// probe appends a 256 B record to a file and fdatasyncs it, in a loop, on the primary's disk alone;
// and on both disks, where each record is appended and fdatasynced on the primary's file on one OS
// thread and on the mirror's file on another, in parallel, and the record counts once both are
// durable. No mirror can commit faster than the second rate; a perfect one loses to native only what
// the first rate loses to the second.

const probeRecord = 256

// fsyncProbe runs the probe in a child process for the -seconds setting and returns records/s.
func fsyncProbe(dirs ...string) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	args := append([]string{"fsyncprobe", strconv.Itoa(*seconds)}, dirs...)
	var errb bytes.Buffer
	cmd := exec.Command(self, args...)
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("fsyncprobe %v: %v: %s", dirs, err, strings.TrimSpace(errb.String()))
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// fsyncProbeChild is `bench fsyncprobe SECONDS DIR [DIR2]`: it prints records/s on stdout.
func fsyncProbeChild(args []string) error {
	if len(args) < 2 || len(args) > 3 {
		return fmt.Errorf("usage: bench fsyncprobe SECONDS DIR [MIRRORDIR]")
	}
	secs, err := strconv.Atoi(args[0])
	if err != nil || secs <= 0 {
		return fmt.Errorf("fsyncprobe: %q is not a number of seconds", args[0])
	}
	var files []*os.File
	for _, d := range args[1:] {
		p := filepath.Join(d, "fsyncprobe.log")
		f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer os.Remove(p)
		defer f.Close()
		files = append(files, f)
	}
	rec := bytes.Repeat([]byte("r"), probeRecord-1)
	rec = append(rec, '\n')
	runtime.LockOSThread() // the primary's appends on this thread
	var mirror *syncThread
	if len(files) == 2 {
		mirror = startSyncThread(files[1], rec)
		defer mirror.stop()
	}
	start := time.Now()
	deadline := start.Add(time.Duration(secs) * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		if mirror != nil {
			mirror.req <- struct{}{}
		}
		err := appendSync(files[0], rec)
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
	fmt.Printf("%f\n", float64(n)/time.Since(start).Seconds())
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

// syncThread appends and fdatasyncs one record on its own locked OS thread each time it is asked.
type syncThread struct {
	req  chan struct{}
	done chan error
}

func startSyncThread(f *os.File, rec []byte) *syncThread {
	t := &syncThread{req: make(chan struct{}), done: make(chan error)}
	go func() {
		runtime.LockOSThread()
		for range t.req {
			t.done <- appendSync(f, rec)
		}
	}()
	return t
}

// stop ends the thread's goroutine (it is idle between records).
func (t *syncThread) stop() { close(t.req) }
