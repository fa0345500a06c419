package archive

// A push for an engine without a log history (SQLite): the archive is a series of snapshots, each a
// consistent copy of the mirror (quiet.go) that the engine restarted and checked, one database file
// per database, and the WALs shipped after them (wal.go). A push ships the WALs when only they
// changed since what the archive holds; it takes a snapshot when a database file or a journal
// changed and, with SnapshotInterval, once that long passed since the newest; a database whose bytes
// are those of the newest snapshot's copy is not sent again (the new snapshot names the same object).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
)

// hasLogHistory says whether the archive ships eng's logs (Berkeley DB) or snapshots and WALs (SQLite).
func hasLogHistory(eng engine.Core) (engine.Engine, bool) {
	e, ok := eng.(engine.Engine)
	return e, ok
}

// snapshotOnlyDue says whether a push of a mirror without log history takes a snapshot now.
func snapshotOnlyDue(m Manifest, now []FileStamp, every time.Duration, at time.Time) bool {
	if len(m.Snapshots) == 0 {
		return true
	}
	last := m.Snapshots[len(m.Snapshots)-1]
	if sameStamps(last.Source, now) {
		return false
	}
	return every <= 0 || at.Sub(last.Taken) >= every
}

// pushSnapshotOnly is PushFrom's work for an engine without a log history, from manifest m.
func (p *pusher) pushSnapshotOnly(ctx context.Context, m Manifest, o PushOptions) (Manifest, error) {
	now, err := stampFiles(p.eng, p.dir)
	if err != nil {
		return m, fmt.Errorf("mirror %s: %w", p.dir, err)
	}
	if len(m.Snapshots) > 0 {
		held := heldStamps(m)
		if sameStamps(held, now) {
			return m, nil
		}
		if sameButWALs(held, now) {
			next, shipped, err := p.shipWALs(ctx, m, held, now)
			if err != nil || shipped {
				return next, err
			}
			// A database file changed while the WALs were read (a checkpoint): a snapshot.
		}
		if !snapshotOnlyDue(m, now, o.SnapshotInterval, time.Now()) {
			return m, nil
		}
	}
	id, err := p.s.unfinishedSnapshot(ctx, m)
	if err != nil {
		return m, err
	}
	p.resuming, p.rep.Resumed = id != "", id != ""
	scratch, err := os.MkdirTemp("", "mirrorctl-snapshot-")
	if err != nil {
		return m, fmt.Errorf("snapshot of mirror %s: a scratch directory for its copy: %w (set TMPDIR to a file system with room for the databases)", p.dir, err)
	}
	defer os.RemoveAll(scratch)
	copyDir := filepath.Join(scratch, "env")
	stamps, from, to, err := quietCopy(ctx, p.eng, p.dir, copyDir, quietPatience)
	if err != nil {
		return m, err
	}
	if _, err := p.eng.Restart(ctx, copyDir); err != nil {
		return m, fmt.Errorf("snapshot of mirror %s: the copy does not restart (%w): the mirror's copy may be damaged; run mirrorctl verify", p.dir, err)
	}
	if id == "" {
		id = formatSnapshotID(from)
	}
	// The copy is of the mirror as it was from "from" to "to": a restore to any moment after "to"
	// takes it.
	snap := Snapshot{ID: id, Taken: from, Done: to, Source: stamps}
	rels, err := databaseFiles(p.eng, copyDir)
	if err != nil {
		return m, fmt.Errorf("snapshot of mirror %s: %w", p.dir, err)
	}
	var prev map[string]Object
	if len(m.Snapshots) > 0 {
		prev = map[string]Object{}
		for _, f := range m.Snapshots[len(m.Snapshots)-1].Files {
			prev[f.Rel] = f.Object
		}
	}
	for _, rel := range rels {
		path := filepath.Join(copyDir, filepath.FromSlash(rel))
		sum, size, err := hashFile(path)
		if err != nil {
			return m, err
		}
		if o, ok := prev[rel]; ok && o.SHA256 == sum && o.Size == size {
			snap.Files = append(snap.Files, File{Rel: rel, Object: o})
			continue
		}
		obj, err := p.uploadFile(ctx, "snapshots/"+id+"/"+rel, path)
		if err != nil {
			return m, err
		}
		if obj.SHA256 != sum {
			return m, fmt.Errorf("snapshot %s: %s hashed to %s and uploaded as %s: the scratch copy changed", id, rel, sum, obj.SHA256)
		}
		snap.Files = append(snap.Files, File{Rel: rel, Object: obj})
	}
	m.Snapshots = append(m.Snapshots, snap)
	p.rep.Snapshot, p.rep.Changed = id, true
	return m, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("snapshot %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
