package hotbackup

// The archive is mirrorctl's only where mirrorctl wrote it: a directory is taken as an archive only
// when it is new, empty, or holds the archive record of the same environment, and a re-run removes
// only paths that the record says an earlier run wrote. Nothing is written before every check passed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
)

// ErrBadArchive marks a refusal of an archival directory; the message says what to do.
var ErrBadArchive = errors.New("unusable archive directory")

type archiveError struct{ msg string }

func (e *archiveError) Error() string { return e.msg }
func (e *archiveError) Unwrap() error { return ErrBadArchive }

func refuse(format string, args ...any) error {
	return &archiveError{msg: fmt.Sprintf(format, args...)}
}

// ArchiveFile is the archive's record, in its metadata area (meta.Dir).
const ArchiveFile = "archive.json"

// archiveRecord says whose archive a directory is and what mirrorctl wrote there.
type archiveRecord struct {
	Version     int       `json:"version"`
	PrimaryID   string    `json:"primary_id"` // the identity id of the environment archived
	PrimaryPath string    `json:"primary_path"`
	Updated     time.Time `json:"updated"`
	// Written lists the paths (directories too, relative) that the last archive copied: the only ones
	// a later archive may remove.
	Written []string `json:"written"`
}

func readArchiveRecord(dir string) (archiveRecord, bool, error) {
	var r archiveRecord
	b, err := os.ReadFile(meta.Path(dir, ArchiveFile))
	if errors.Is(err, fs.ErrNotExist) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, false, fmt.Errorf("%w (%v)", meta.ErrCorruptMeta, err)
	}
	return r, true, nil
}

func writeArchiveRecord(dir string, r archiveRecord) error {
	r.Version, r.Updated = 1, time.Now().UTC()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	md := filepath.Join(dir, meta.Dir)
	if err := os.MkdirAll(md, 0o700); err != nil {
		return meta.Explain(err)
	}
	return meta.WriteFileDurable(meta.Path(dir, ArchiveFile), append(b, '\n'))
}

// CheckArchive checks an archival directory against the pair, writing nothing, and returns it
// absolute with symlinks resolved. It refuses a directory that is, contains or lies inside the
// primary or the mirror, one whose parent does not exist, and one that exists and is neither empty
// nor an earlier archive of the same environment (its record names the primary's identity).
func CheckArchive(dir string, p mirror.Pair) (string, error) {
	const fix = "give a new or empty directory outside both trees"
	a, err := mirror.Resolve(dir)
	if err != nil {
		return "", refuse("archive %s: its parent directory does not exist: create it first, or %s", dir, fix)
	}
	for _, t := range []struct{ name, dir string }{{"primary", p.Primary}, {"mirror", p.Mirror}} {
		switch {
		case a == t.dir:
			return "", refuse("archive %s is the %s itself: the archive would overwrite it; %s", a, t.name, fix)
		case mirror.Within(a, t.dir):
			return "", refuse("archive %s is inside the %s %s: %s", a, t.name, t.dir, fix)
		case mirror.Within(t.dir, a):
			return "", refuse("archive %s contains the %s %s: the archive would overwrite it; %s", a, t.name, t.dir, fix)
		}
	}
	st, err := os.Lstat(a)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return a, nil
	case err != nil:
		return "", refuse("archive %s: %v: %s", a, errors.Unwrap(err), fix)
	case !st.IsDir():
		return "", refuse("archive %s exists and is not a directory: %s", a, fix)
	}
	ents, err := os.ReadDir(a)
	if err != nil {
		return "", refuse("archive %s: %v: %s", a, errors.Unwrap(err), fix)
	}
	if len(ents) == 0 {
		return a, nil
	}
	rec, ok, err := readArchiveRecord(a)
	if err != nil {
		return "", refuse("archive %s: its record %s cannot be read (%v): move it aside, or %s", a, meta.Path(a, ArchiveFile), err, fix)
	}
	if !ok {
		return "", refuse("archive %s is not empty and is not an archive written by mirrorctl sync: nothing in it was changed; %s", a, fix)
	}
	id, hasID, err := meta.ReadIdentity(p.Primary)
	if err != nil {
		return "", err
	}
	if !hasID || rec.PrimaryID != id.ID {
		return "", refuse("archive %s is the archive of another environment (%s, id %.8s), not of %s: nothing in it was changed; %s", a, rec.PrimaryPath, rec.PrimaryID, p.Primary, fix)
	}
	return a, nil
}

// archiveTo copies the mirror to the archival directory to (checked by CheckArchive), copying only
// what differs and never the mirror's metadata. The record is written first, so that an interrupted
// archive is still recognised as this environment's, and again at the end with what was written.
func archiveTo(ctx context.Context, from, to string, id meta.Identity, primary string) error {
	prev, _, err := readArchiveRecord(to)
	if err != nil {
		return err
	}
	if err := os.Mkdir(to, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	rec := archiveRecord{PrimaryID: id.ID, PrimaryPath: primary, Written: prev.Written}
	if err := writeArchiveRecord(to, rec); err != nil {
		return err
	}
	written := make(map[string]bool, len(prev.Written))
	for _, rel := range prev.Written {
		written[rel] = true
	}
	mirrored := func(rel string) bool { return !mirror.IsMeta(rel) }
	m, err := mirror.Open(from, to, mirror.PolicyFunc(mirrored), mirror.Options{})
	if err != nil {
		return err
	}
	defer m.Close()
	// What an earlier archive did not write is someone else's: it stays.
	if _, err := m.Sync(ctx, mirror.SyncOptions{Keep: func(rel string) bool { return !written[rel] }}); err != nil {
		return err
	}
	if rec.Written, err = treePaths(from, mirrored); err != nil {
		return err
	}
	return writeArchiveRecord(to, rec)
}

// treePaths lists the relative paths under dir that pass the filter, in walk order.
func treePaths(dir string, mirrored func(string) bool) ([]string, error) {
	var rels []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !mirrored(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rels = append(rels, rel)
		return nil
	})
	return rels, err
}
