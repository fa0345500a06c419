package drill

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// fillerName is the file that fills a disk, at the root of its file system (beside the
// environment, so that the mount never sees it).
const fillerName = "filler"

// fill takes every free block of the file system at root (ENOSPC for whoever writes next):
// fallocate of what statfs says is free, then writes until the file system refuses.
func fill(root string) error {
	p := filepath.Join(root, fillerName)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("fill %s: %w", root, err)
	}
	defer f.Close()
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		return fmt.Errorf("fill %s: statfs: %w", root, err)
	}
	free := int64(st.Bavail) * st.Bsize
	// Metadata needs a little: step down until the allocation fits.
	for size := free; size > 1<<20; size -= 1 << 20 {
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err == nil {
			break
		}
	}
	end, err := f.Seek(0, 2)
	if err != nil {
		return fmt.Errorf("fill %s: %w", root, err)
	}
	buf := make([]byte, 4096)
	for i := 0; i < 1<<20; i++ {
		if _, err := f.WriteAt(buf, end); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return fmt.Errorf("fill %s: %w", root, err)
		}
		end += int64(len(buf))
	}
	return fmt.Errorf("fill %s: still not full after 4 GiB", root)
}
