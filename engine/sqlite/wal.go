package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mirrorctl/mirrorctl/engine"
)

var _ engine.Pending = Engine{}

// WAL file layout (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte header (magic,
// version, page size, checkpoint sequence, two salts, two checksums), then frames of a 24-byte
// header (page number, database size after a commit or 0, the two salts, two checksums) and a page.
const (
	walHeader   = 32
	frameHeader = 24
)

// BytesSinceCheckpoint is the WAL bytes a restart of envDir would replay: for each database, the
// frames of its -wal that carry the header's salts, up to the last commit frame among them. Frame
// checksums are not checked, so a torn last frame may be counted: it is an upper bound.
func (e Engine) BytesSinceCheckpoint(ctx context.Context, envDir string) (int64, error) {
	dbs, err := e.Databases(envDir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, rel := range dbs {
		b, err := walBytes(filepath.Join(envDir, filepath.FromSlash(rel)) + "-wal")
		if err != nil {
			return 0, fmt.Errorf("read the WAL of SQLite database %s: %w", rel, err)
		}
		n += b
	}
	return n, nil
}

// walBytes is BytesSinceCheckpoint of one WAL file; 0 when there is none.
func walBytes(p string) (int64, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	hdr := make([]byte, walHeader)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return 0, nil // empty or shorter than a header: nothing to replay
	}
	if m := binary.BigEndian.Uint32(hdr); m != 0x377f0682 && m != 0x377f0683 {
		return 0, nil
	}
	page := int64(binary.BigEndian.Uint32(hdr[8:]))
	if page == 1 {
		page = 65536
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	salts := hdr[16:24]
	fh := make([]byte, frameHeader)
	var committed int64
	for off := int64(walHeader); off+frameHeader+page <= st.Size(); off += frameHeader + page {
		if _, err := f.ReadAt(fh, off); err != nil {
			break
		}
		if string(fh[8:16]) != string(salts) {
			break
		}
		if binary.BigEndian.Uint32(fh[4:]) != 0 { // a commit frame
			committed = off + frameHeader + page - walHeader
		}
	}
	return committed, nil
}
