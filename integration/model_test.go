package integration

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// model is what the test expects the tree to hold. Hard links share a *content.
type model struct {
	entries map[string]*entry // slash-separated path relative to the root
}

type content struct{ data []byte }

type entry struct {
	kind   string // "file", "dir", "symlink"
	c      *content
	mode   uint32
	target string
	uid    int
}

func newModel() *model { return &model{entries: map[string]*entry{".": {kind: "dir", mode: 0o755}}} }

func (m *model) names(kind string) []string {
	var out []string
	for p, e := range m.entries {
		if e.kind == kind && p != "." {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func (m *model) dirs() []string {
	out := m.names("dir")
	return append(out, ".")
}

func (m *model) children(dir string) int {
	n := 0
	for p := range m.entries {
		if p != "." && path.Dir(p) == dir {
			n++
		}
	}
	return n
}

func (m *model) move(from, to string) {
	moved := map[string]*entry{}
	for p, e := range m.entries {
		if p == from || strings.HasPrefix(p, from+"/") {
			moved[to+strings.TrimPrefix(p, from)] = e
			delete(m.entries, p)
		}
	}
	for p, e := range moved {
		m.entries[p] = e
	}
}

func setAt(b []byte, off int, data []byte) []byte {
	if need := off + len(data); need > len(b) {
		b = append(b, make([]byte, need-len(b))...)
	}
	copy(b[off:], data)
	return b
}

func resize(b []byte, n int) []byte {
	if n <= len(b) {
		return b[:n:n]
	}
	return append(b, make([]byte, n-len(b))...)
}

// opRunner applies random operations through the mount and to the model.
type opRunner struct {
	t    *testing.T
	rnd  *rand.Rand
	root string
	m    *model
	seq  int
	last string // the last operation, for messages
}

func (r *opRunner) p(rel string) string { return filepath.Join(r.root, filepath.FromSlash(rel)) }

func (r *opRunner) newName(dir string) string {
	r.seq++
	names := []string{"f", "data file", "ünï", "x-y_z"}
	return path.Join(dir, fmt.Sprintf("%s%d", names[r.rnd.Intn(len(names))], r.seq))
}

func (r *opRunner) randBytes(n int) []byte {
	b := make([]byte, n)
	r.rnd.Read(b)
	return b
}

func (r *opRunner) pick(list []string) (string, bool) {
	if len(list) == 0 {
		return "", false
	}
	return list[r.rnd.Intn(len(list))], true
}

func (r *opRunner) must(err error, what string) {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("op %d: %s: %v", r.seq, what, err)
	}
}

func (r *opRunner) step() {
	t := r.t
	files := r.m.names("file")
	op := r.rnd.Intn(20)
	r.last = fmt.Sprint("kind ", op)
	switch op {
	case 0, 1: // create
		dir, _ := r.pick(r.m.dirs())
		name := r.newName(dir)
		data := r.randBytes(r.rnd.Intn(20000))
		r.must(os.WriteFile(r.p(name), data, 0o644), "create "+name)
		r.m.entries[name] = &entry{kind: "file", c: &content{data: data}, mode: 0o644}
	case 2, 3, 4: // pwrite at a random offset, possibly past the end
		f, ok := r.pick(files)
		if !ok {
			return
		}
		e := r.m.entries[f]
		off := r.rnd.Intn(len(e.c.data) + 5000)
		data := r.randBytes(1 + r.rnd.Intn(9000))
		fd, err := os.OpenFile(r.p(f), os.O_RDWR, 0)
		r.must(err, "open "+f)
		_, err = fd.WriteAt(data, int64(off))
		r.must(err, "pwrite "+f)
		r.must(fd.Close(), "close")
		e.c.data = setAt(e.c.data, off, data)
	case 5: // truncate by path, or ftruncate
		f, ok := r.pick(files)
		if !ok {
			return
		}
		e := r.m.entries[f]
		n := r.rnd.Intn(len(e.c.data) + 10000)
		if r.rnd.Intn(2) == 0 {
			r.must(os.Truncate(r.p(f), int64(n)), "truncate "+f)
		} else {
			fd, err := os.OpenFile(r.p(f), os.O_RDWR, 0)
			r.must(err, "open")
			r.must(fd.Truncate(int64(n)), "ftruncate "+f)
			fd.Close()
		}
		e.c.data = resize(e.c.data, n)
	case 6: // punch a hole
		f, ok := r.pick(files)
		if !ok || len(r.m.entries[f].c.data) < 2 {
			return
		}
		e := r.m.entries[f]
		off := r.rnd.Intn(len(e.c.data) - 1)
		n := 1 + r.rnd.Intn(len(e.c.data)-off)
		fd, err := os.OpenFile(r.p(f), os.O_RDWR, 0)
		r.must(err, "open")
		r.must(unix.Fallocate(int(fd.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(off), int64(n)), "punch hole "+f)
		fd.Close()
		copy(e.c.data[off:off+n], make([]byte, n))
	case 7: // mkdir / rmdir
		if dirs := r.m.names("dir"); len(dirs) > 0 && r.rnd.Intn(3) == 0 {
			d, _ := r.pick(dirs)
			if r.m.children(d) == 0 {
				r.must(os.Remove(r.p(d)), "rmdir "+d)
				delete(r.m.entries, d)
				return
			}
		}
		dir, _ := r.pick(r.m.dirs())
		name := r.newName(dir)
		r.must(os.Mkdir(r.p(name), 0o755), "mkdir "+name)
		r.m.entries[name] = &entry{kind: "dir", mode: 0o755}
	case 8: // unlink
		f, ok := r.pick(append(files, r.m.names("symlink")...))
		if !ok {
			return
		}
		r.must(os.Remove(r.p(f)), "unlink "+f)
		delete(r.m.entries, f)
	case 9: // rename, over an existing file sometimes, or with NOREPLACE / EXCHANGE
		f, ok := r.pick(files)
		if !ok {
			return
		}
		switch r.rnd.Intn(3) {
		case 0:
			dir, _ := r.pick(r.m.dirs())
			to := r.newName(dir)
			r.must(unix.Renameat2(unix.AT_FDCWD, r.p(f), unix.AT_FDCWD, r.p(to), unix.RENAME_NOREPLACE), "rename noreplace")
			r.m.move(f, to)
		case 1:
			to, _ := r.pick(files)
			if to == f || r.m.entries[to].c == r.m.entries[f].c {
				return // renaming a file onto a hard link of itself does nothing
			}
			r.must(os.Rename(r.p(f), r.p(to)), "rename over "+to)
			delete(r.m.entries, to)
			r.m.move(f, to)
		case 2:
			other, _ := r.pick(files)
			if other == f || strings.HasPrefix(other, f+"/") || strings.HasPrefix(f, other+"/") {
				return
			}
			r.must(unix.Renameat2(unix.AT_FDCWD, r.p(f), unix.AT_FDCWD, r.p(other), unix.RENAME_EXCHANGE), "rename exchange")
			r.m.entries[f], r.m.entries[other] = r.m.entries[other], r.m.entries[f]
		}
	case 10: // rename a directory
		d, ok := r.pick(r.m.names("dir"))
		if !ok {
			return
		}
		to := r.newName(".")
		r.must(os.Rename(r.p(d), r.p(to)), "rename dir "+d)
		r.m.move(d, to)
	case 11: // hard link
		f, ok := r.pick(files)
		if !ok {
			return
		}
		to := r.newName(path.Dir(f))
		r.must(os.Link(r.p(f), r.p(to)), "link "+f)
		e := r.m.entries[f]
		r.m.entries[to] = &entry{kind: "file", c: e.c, mode: e.mode, uid: e.uid}
	case 12: // symlink
		dir, _ := r.pick(r.m.dirs())
		name := r.newName(dir)
		target := fmt.Sprintf("../target %d", r.seq)
		r.must(os.Symlink(target, r.p(name)), "symlink")
		r.m.entries[name] = &entry{kind: "symlink", target: target}
	case 13: // chmod / chown / utimens / xattr
		f, ok := r.pick(files)
		if !ok {
			return
		}
		e := r.m.entries[f]
		switch r.rnd.Intn(4) {
		case 0:
			mode := []uint32{0o600, 0o640, 0o755, 0o444}[r.rnd.Intn(4)]
			r.must(os.Chmod(r.p(f), os.FileMode(mode)), "chmod")
			e.mode = mode
			for _, o := range r.m.entries {
				if o.c == e.c {
					o.mode = mode
				}
			}
		case 1:
			r.must(os.Lchown(r.p(f), 1000, 1000), "chown")
			for _, o := range r.m.entries {
				if o.c == e.c {
					o.uid = 1000
				}
			}
		case 2:
			ts := []unix.Timespec{{Sec: 1_600_000_000}, {Sec: 1_600_000_000 + int64(r.seq)}}
			r.must(unix.UtimesNanoAt(unix.AT_FDCWD, r.p(f), ts, 0), "utimens")
		case 3:
			r.must(unix.Setxattr(r.p(f), "user.mirrorctl", []byte(fmt.Sprint(r.seq)), 0), "setxattr")
			if r.rnd.Intn(2) == 0 {
				r.must(unix.Removexattr(r.p(f), "user.mirrorctl"), "removexattr")
			}
		}
	case 14: // copy_file_range between two files
		src, ok := r.pick(files)
		dst, ok2 := r.pick(files)
		if !ok || !ok2 || src == dst || r.m.entries[src].c == r.m.entries[dst].c || len(r.m.entries[src].c.data) == 0 {
			return
		}
		se, de := r.m.entries[src], r.m.entries[dst]
		n := 1 + r.rnd.Intn(len(se.c.data))
		dstOff := r.rnd.Intn(len(de.c.data) + 100)
		in, err := os.Open(r.p(src))
		r.must(err, "open src")
		out, err := os.OpenFile(r.p(dst), os.O_RDWR, 0)
		r.must(err, "open dst")
		roff, woff := int64(0), int64(dstOff)
		done := 0
		for done < n {
			k, err := unix.CopyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, n-done, 0)
			r.must(err, "copy_file_range")
			if k == 0 {
				break
			}
			done += k
		}
		in.Close()
		out.Close()
		de.c.data = setAt(de.c.data, dstOff, append([]byte(nil), se.c.data[:done]...))
	case 15: // write through a shared mapping
		f, ok := r.pick(files)
		if !ok || len(r.m.entries[f].c.data) == 0 {
			return
		}
		e := r.m.entries[f]
		fd, err := os.OpenFile(r.p(f), os.O_RDWR, 0)
		r.must(err, "open for mmap")
		mem, err := unix.Mmap(int(fd.Fd()), 0, len(e.c.data), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		r.must(err, "mmap")
		off := r.rnd.Intn(len(e.c.data))
		data := r.randBytes(min(len(e.c.data)-off, 1+r.rnd.Intn(5000)))
		copy(mem[off:], data)
		r.must(unix.Msync(mem, unix.MS_SYNC), "msync")
		r.must(unix.Munmap(mem), "munmap")
		fd.Close()
		copy(e.c.data[off:], data)
	case 16: // O_APPEND, O_SYNC, O_DSYNC writes
		f, ok := r.pick(files)
		if !ok {
			return
		}
		flag := []int{os.O_APPEND, os.O_SYNC, unix.O_DSYNC}[r.rnd.Intn(3)]
		e := r.m.entries[f]
		data := r.randBytes(1 + r.rnd.Intn(3000))
		fd, err := os.OpenFile(r.p(f), os.O_WRONLY|flag, 0)
		r.must(err, "open with flags")
		if flag == os.O_APPEND {
			_, err = fd.Write(data)
			e.c.data = append(e.c.data, data...)
		} else {
			_, err = fd.WriteAt(data, 0)
			e.c.data = setAt(e.c.data, 0, data)
		}
		r.must(err, "write")
		r.must(fd.Sync(), "fsync")
		fd.Close()
	case 17: // keep writing to a file after it was unlinked
		f, ok := r.pick(files)
		if !ok {
			return
		}
		fd, err := os.OpenFile(r.p(f), os.O_RDWR, 0)
		r.must(err, "open")
		r.must(os.Remove(r.p(f)), "unlink open file")
		data := r.randBytes(4096)
		_, err = fd.WriteAt(data, 0)
		r.must(err, "write to unlinked file")
		r.must(fd.Sync(), "fsync unlinked file")
		fd.Close()
		e := r.m.entries[f]
		e.c.data = setAt(e.c.data, 0, data) // other hard links see it
		delete(r.m.entries, f)
	default: // overwrite a file whole, with fsync and a directory fsync
		f, ok := r.pick(files)
		if !ok {
			return
		}
		data := r.randBytes(r.rnd.Intn(30000))
		fd, err := os.OpenFile(r.p(f), os.O_WRONLY|os.O_TRUNC, 0)
		r.must(err, "open trunc")
		_, err = fd.Write(data)
		r.must(err, "write")
		r.must(fd.Sync(), "fsync")
		fd.Close()
		dir, err := os.Open(r.p(path.Dir(f)))
		r.must(err, "open dir")
		r.must(dir.Sync(), "fsync dir")
		dir.Close()
		r.m.entries[f].c.data = data
	}
	_ = t
}

// compareTree checks that dir holds exactly what the model says.
func compareTree(t *testing.T, what, dir string, m *model, checkOwner bool) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == ".mirrorctl" {
			return filepath.SkipDir
		}
		if strings.HasSuffix(rel, ".tmp") || strings.HasPrefix(path.Base(rel), "__db.") {
			return nil
		}
		seen[rel] = true
		e, ok := m.entries[rel]
		if !ok {
			t.Errorf("%s: %s exists but the model has no such entry", what, rel)
			return nil
		}
		switch {
		case e.kind == "dir" && !info.IsDir(), e.kind == "file" && !info.Mode().IsRegular(), e.kind == "symlink" && info.Mode()&os.ModeSymlink == 0:
			t.Errorf("%s: %s is %v, model says %s", what, rel, info.Mode(), e.kind)
		case e.kind == "file":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !bytes.Equal(b, e.c.data) {
				t.Errorf("%s: %s content differs (%d bytes, model %d)", what, rel, len(b), len(e.c.data))
			}
			if uint32(info.Mode().Perm()) != e.mode {
				t.Errorf("%s: %s mode %o, model %o", what, rel, info.Mode().Perm(), e.mode)
			}
			if st := info.Sys().(*syscall.Stat_t); checkOwner && int(st.Uid) != e.uid {
				t.Errorf("%s: %s owner %d, model %d", what, rel, st.Uid, e.uid)
			}
		case e.kind == "symlink":
			target, _ := os.Readlink(p)
			if target != e.target {
				t.Errorf("%s: %s points at %q, model %q", what, rel, target, e.target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: walk: %v", what, err)
	}
	for rel := range m.entries {
		if !seen[rel] {
			t.Errorf("%s: %s is missing", what, rel)
		}
	}
}

// TestMount_RandomOperationsReachTheMirror applies a long seeded random sequence of every kind of
// change through the mount and requires the mount, the primary and the mirror to equal a model.
// It runs in each mode that changes how files are opened.
func TestMount_RandomOperationsReachTheMirror(t *testing.T) {
	needFUSE(t)
	for _, mode := range []struct {
		name  string
		flags []string
	}{
		{"default", nil},
		{"passthrough-reads", []string{"--passthrough-reads"}},
	} {
		t.Run(mode.name, func(t *testing.T) { randomOperations(t, mode.flags...) })
	}
}

func randomOperations(t *testing.T, mountFlags ...string) {
	primary, mirrorDir, mp := dirs(t)
	seed := rand.Int63()
	if s := os.Getenv("MIRRORCTL_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d", seed)
	m := startMount(t, primary, mirrorDir, mp, append([]string{"--exclude", "*.tmp"}, mountFlags...)...)
	r := &opRunner{t: t, rnd: rand.New(rand.NewSource(seed)), root: mp, m: newModel()}
	checkEach := os.Getenv("MIRRORCTL_MODEL_CHECK_EACH") == "1" // for debugging a failing seed
	for i := 0; i < 1500 && !t.Failed(); i++ {
		r.step()
		if checkEach {
			compareTree(t, fmt.Sprintf("mount after op %d (%s)", r.seq, r.last), mp, r.m, true)
		}
	}

	// Concurrent writers: disjoint regions of one file, and files of their own.
	shared := "shared"
	r.must(os.WriteFile(r.p(shared), nil, 0o644), "create shared")
	r.m.entries[shared] = &entry{kind: "file", c: &content{}, mode: 0o644}
	const writers, chunk, rounds = 4, 8192, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	results := make([][]byte, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			fd, err := os.OpenFile(r.p(shared), os.O_RDWR, 0)
			if err != nil {
				errs <- err
				return
			}
			defer fd.Close()
			own, err := os.Create(r.p(fmt.Sprintf("own%d", w)))
			if err != nil {
				errs <- err
				return
			}
			defer own.Close()
			buf := bytes.Repeat([]byte{byte('A' + w)}, chunk)
			for i := 0; i < rounds; i++ {
				if _, err := fd.WriteAt(buf, int64((i*writers+w)*chunk)); err != nil {
					errs <- err
					return
				}
				if _, err := own.Write(buf[:100]); err != nil {
					errs <- err
					return
				}
			}
			results[w] = bytes.Repeat(buf[:100], rounds)
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := make([]byte, writers*rounds*chunk)
	for i := 0; i < rounds; i++ {
		for w := 0; w < writers; w++ {
			copy(want[(i*writers+w)*chunk:], bytes.Repeat([]byte{byte('A' + w)}, chunk))
		}
	}
	r.m.entries[shared].c.data = want
	for w := 0; w < writers; w++ {
		r.m.entries[fmt.Sprintf("own%d", w)] = &entry{kind: "file", c: &content{data: results[w]}, mode: 0o644}
	}

	// Excluded files live on the primary only.
	r.must(os.WriteFile(r.p("scratch.tmp"), []byte("x"), 0o644), "create excluded")
	r.must(os.WriteFile(r.p("__db.001"), []byte("region"), 0o644), "create region")

	// The metadata area cannot be seen or touched through the mount.
	if _, err := os.Lstat(r.p(".mirrorctl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the metadata area is visible through the mount: %v", err)
	}
	if err := os.Mkdir(r.p(".mirrorctl"), 0o755); err == nil {
		t.Error("creating the metadata area through the mount was allowed")
	}
	ents, err := os.ReadDir(mp)
	r.must(err, "readdir")
	for _, e := range ents {
		if e.Name() == ".mirrorctl" {
			t.Error("the metadata area is listed through the mount")
		}
	}

	compareTree(t, "mount", mp, r.m, true)
	verifyClean(t, primary, mirrorDir, "--exclude", "*.tmp")
	m.Stop(t)
	compareTree(t, "primary", primary, r.m, true)
	compareTree(t, "mirror", mirrorDir, r.m, true)
	verifyClean(t, primary, mirrorDir, "--exclude", "*.tmp")
	for _, name := range []string{"scratch.tmp", "__db.001"} {
		if _, err := os.Stat(filepath.Join(primary, name)); err != nil {
			t.Errorf("excluded %s missing on the primary: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(mirrorDir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("excluded %s reached the mirror", name)
		}
	}
}
