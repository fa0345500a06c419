package archive

// Retention in the bucket: a prune keeps the snapshots a rule keeps (by count, by age, or both), the
// logs from the first one the oldest kept snapshot needs, and drops the rest. It first writes a new
// manifest that names only what is kept, then deletes the objects no kept manifest names, then the
// manifests it no longer keeps: a prune that stops half-way leaves a bucket whose newest manifest
// restores, and the next prune finishes the job.

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/minio/minio-go/v7"
)

// olderManifestsKept is how many manifests before the newest a prune keeps, when they name only
// objects that are kept: a fallback should the newest be unreadable, never one that names a deleted
// object.
const olderManifestsKept = 2

// Retention says which snapshots a prune keeps; the zero value keeps every snapshot and every log.
type Retention struct {
	// KeepSnapshots keeps the newest this many snapshots (0: no rule by count).
	KeepSnapshots int
	// KeepAge keeps every snapshot that ended within this long before now, and the newest one before
	// that, so that a restore to any moment of that span finds a snapshot (0: no rule by age).
	KeepAge time.Duration
}

// IsZero says the retention keeps everything.
func (r Retention) IsZero() bool { return r.KeepSnapshots <= 0 && r.KeepAge <= 0 }

// PruneReport says what a prune dropped, or would drop with DryRun.
type PruneReport struct {
	Location   string   `json:"location"`
	DryRun     bool     `json:"dry_run"`
	Generation uint64   `json:"generation"` // the archive's manifest after the prune
	Kept       []string `json:"kept"`       // snapshot IDs, oldest first
	Dropped    []string `json:"dropped"`    // snapshot IDs, oldest first
	FirstLog   uint32   `json:"first_log"`  // the oldest log kept
	Objects    int      `json:"objects"`    // objects deleted (snapshot files, logs, parts)
	Bytes      int64    `json:"bytes"`
	Manifests  int      `json:"manifests"` // manifests deleted
	// KeptObjects and KeptBytes are what the bucket holds after the prune (manifests included).
	KeptObjects int   `json:"kept_objects"`
	KeptBytes   int64 `json:"kept_bytes"`
	// AbortedUploads are incomplete multipart uploads begun before the newest manifest was written,
	// that no push will resume (aborted, or counted with DryRun).
	AbortedUploads int       `json:"aborted_uploads"`
	Finished       time.Time `json:"finished"`
}

// keptSnapshots splits snapshots (oldest first) into those r keeps and those it drops; the newest is
// always kept. With both rules, a snapshot either rule keeps is kept.
func keptSnapshots(snaps []Snapshot, r Retention, now time.Time) (kept, dropped []Snapshot) {
	if len(snaps) == 0 || r.IsZero() {
		return snaps, nil
	}
	keep := make([]bool, len(snaps))
	keep[len(snaps)-1] = true
	if r.KeepSnapshots > 0 {
		for i := max(0, len(snaps)-r.KeepSnapshots); i < len(snaps); i++ {
			keep[i] = true
		}
	}
	if r.KeepAge > 0 {
		cutoff := now.Add(-r.KeepAge)
		for i := len(snaps) - 1; i >= 0; i-- {
			keep[i] = true
			if !snaps[i].Done.After(cutoff) { // the one a restore to the cutoff itself needs
				break
			}
		}
	}
	for i, s := range snaps {
		if keep[i] {
			kept = append(kept, s)
		} else {
			dropped = append(dropped, s)
		}
	}
	return kept, dropped
}

// retained is m with only the snapshots r keeps and the logs they need.
func retained(m Manifest, r Retention, now time.Time) (Manifest, []Snapshot) {
	if r.IsZero() {
		return m, nil
	}
	kept, dropped := keptSnapshots(m.Snapshots, r, now)
	out := m.clone()
	out.Snapshots = append([]Snapshot(nil), kept...)
	if len(kept) == 0 {
		return out, dropped
	}
	first := kept[0].FirstLog
	for _, s := range kept {
		first = min(first, s.FirstLog)
	}
	out.Logs = out.Logs[:0]
	for _, l := range m.Logs {
		if l.Number >= first {
			out.Logs = append(out.Logs, l)
		}
	}
	keep := map[string]bool{}
	for _, s := range kept {
		keep[s.ID] = true
	}
	out.WALs = nil
	for _, w := range m.WALs {
		if keep[w.Snapshot] {
			out.WALs = append(out.WALs, w)
		}
	}
	return out, dropped
}

// names is the set of object names (relative to the prefix) m names.
func (m Manifest) names() map[string]bool {
	n := map[string]bool{}
	for _, s := range m.Snapshots {
		for _, f := range s.Files {
			n[f.Key] = true
		}
	}
	for _, l := range m.Logs {
		if l.Key != "" {
			n[l.Key] = true
		}
		for _, p := range l.Parts {
			n[p.Key] = true
		}
	}
	for _, w := range m.WALs {
		for _, p := range w.Parts {
			n[p.Key] = true
		}
	}
	return n
}

// Prune applies r to the archive at s. Run it where the archive's only pusher runs (a mount prunes
// after its pushes), never beside a push of another process: an object that push reuses could go.
func Prune(ctx context.Context, s *Store, r Retention, dryRun bool) (PruneReport, error) {
	m, ok, err := s.LatestManifest(ctx)
	if err != nil {
		return PruneReport{Location: s.loc.String(), DryRun: dryRun}, err
	}
	if !ok {
		return PruneReport{Location: s.loc.String(), DryRun: dryRun}, fmt.Errorf("%w at %s: it holds no manifest; nothing to prune", ErrNoArchive, s.loc)
	}
	rep, _, err := pruneFrom(ctx, s, m, r, dryRun)
	return rep, err
}

// pruneFrom prunes from m, the archive's newest manifest, and returns the newest after the prune.
func pruneFrom(ctx context.Context, s *Store, m Manifest, r Retention, dryRun bool) (PruneReport, Manifest, error) {
	rep := PruneReport{Location: s.loc.String(), DryRun: dryRun}
	next, dropped := retained(m, r, time.Now())
	for _, sn := range next.Snapshots {
		rep.Kept = append(rep.Kept, sn.ID)
	}
	for _, sn := range dropped {
		rep.Dropped = append(rep.Dropped, sn.ID)
	}
	if len(next.Logs) > 0 {
		rep.FirstLog = next.Logs[0].Number
	}
	rep.Generation = m.Generation
	changed := len(dropped) > 0 || len(next.Logs) != len(m.Logs)
	if changed && !dryRun {
		var err error
		if next, err = s.writeManifest(ctx, next, m.Generation); err != nil {
			return rep, m, err
		}
		rep.Generation = next.Generation
	}
	live := next.names()
	// The few manifests before the newest stay when everything they name is kept.
	keepGen := map[uint64]bool{m.Generation: true, rep.Generation: true}
	objects, err := s.listObjects(ctx, "logs", "wal", "snapshots", "manifests")
	if err != nil {
		return rep, m, err
	}
	var gens []uint64
	for _, o := range objects {
		if g, ok := parseManifestName(o.name); ok && g < m.Generation {
			gens = append(gens, g)
		}
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] > gens[j] })
	if !changed {
		for _, g := range gens[:min(len(gens), olderManifestsKept)] {
			old, err := s.readManifest(ctx, g)
			if err != nil || !subset(old.names(), live) {
				break
			}
			keepGen[g] = true
		}
	} else {
		delete(keepGen, m.Generation) // it names what was dropped (a dry run counts it as a real prune would)
	}
	var doomedManifests []string
	for _, o := range objects {
		if g, ok := parseManifestName(o.name); ok {
			if !keepGen[g] && g <= m.Generation {
				doomedManifests = append(doomedManifests, o.name)
			} else {
				rep.KeptObjects++
				rep.KeptBytes += o.size
			}
			continue
		}
		if live[o.name] {
			rep.KeptObjects++
			rep.KeptBytes += o.size
			continue
		}
		rep.Objects++
		rep.Bytes += o.size
		if !dryRun {
			if err := s.remove(ctx, o.name); err != nil {
				return rep, m, err
			}
		}
	}
	// Manifests last: until they go, a prune that stopped finds what they named to delete.
	for _, name := range doomedManifests {
		rep.Manifests++
		if !dryRun {
			if err := s.remove(ctx, name); err != nil {
				return rep, m, err
			}
		}
	}
	if rep.AbortedUploads, err = s.abortAbandoned(ctx, m.Written, dryRun); err != nil {
		return rep, m, err
	}
	rep.Finished = time.Now().UTC()
	return rep, next, nil
}

func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// objectInfo is one listed object.
type objectInfo struct {
	name string // relative to the prefix
	size int64
}

// listObjects lists the objects below each dir.
func (s *Store) listObjects(ctx context.Context, dirs ...string) ([]objectInfo, error) {
	var out []objectInfo
	for _, dir := range dirs {
		pfx := s.loc.key(dir) + "/"
		for o := range s.c.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: pfx, Recursive: true}) {
			if o.Err != nil {
				return nil, s.explain("list", pfx, o.Err)
			}
			name := o.Key
			if s.loc.Prefix != "" {
				name = name[len(s.loc.Prefix)+1:]
			}
			out = append(out, objectInfo{name: name, size: o.Size})
		}
	}
	return out, nil
}

// remove deletes an object; one already gone is no error.
func (s *Store) remove(ctx context.Context, name string) error {
	if err := s.c.RemoveObject(ctx, s.loc.Bucket, s.loc.key(name), minio.RemoveObjectOptions{}); err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return s.explain("delete", s.loc.key(name), err)
	}
	return nil
}
