// Package archive keeps a third copy of a mirrored environment off the machine, in S3-compatible
// object storage, and restores an environment from it (or from a local mirror's retained history)
// to its newest state or to a moment.
//
// Layout under s3://bucket/prefix:
//
//	snapshots/<ID>/<rel>                 the files of a snapshot (ID: the UTC time its copy first
//	                                     started, sorts by time)
//	logs/<rel>                           a sealed log file (complete: a later log exists)
//	logs/<rel>.part.<off>.<len>.<sha:16> bytes the open (newest) log gained since the last push
//	wal/<ID>/<rel>.part.<off>.<len>.<sha:16> SQLite: bytes a WAL gained after snapshot ID
//	manifests/<generation:20>.json       what the archive holds, written last
//
// Invariants kept here:
//   - Nothing is overwritten in place. Every object has a name of its own (a snapshot's by its ID, a
//     sealed log by its name, a part of the open log by its offset, length and checksum); an object that exists
//     under a name a push wants is reused only when its recorded SHA-256 is the local file's, and is
//     otherwise refused (ErrForeign). Each push that changed something writes a new manifest, with
//     the next generation; the newest generation is the archive.
//   - A manifest names only objects that were uploaded, read back and found to hash to the SHA-256
//     it records: it is written after them, so a push that fails half-way leaves the previous
//     manifest as the archive and a few unnamed objects that the next push reuses.
//   - A snapshot is consistent because of the order it is taken in, as db_hotbackup does: first the
//     database files are copied from the mirror, then every log from the one where normal recovery
//     of the mirror would start reading when the copy starts (the last checkpoint's, before which
//     every change is in the database files; the mirror's oldest log when the engine cannot tell,
//     or when the mirror's record says it was copied from a running environment and needs
//     catastrophic recovery over every log) to
//     the newest log after the copy (the logs are objects of their own, shared by the
//     snapshots). mirrorctl is the mirror's only writer and applies the primary's writes in order, so
//     the write-ahead rule holds on the mirror: a database page reaches it only after the log
//     records that describe the change. Catastrophic recovery over the copied files and that log
//     range therefore gives a consistent environment, whatever a mount wrote during the copy.
//   - An engine without a log history (SQLite) is archived as snapshots (pushsnap.go) and its WAL
//     shipped between them (wal.go). A snapshot is a copy of the mirror taken while none of its files
//     changed (quiet.go says why that instant is a crash image the engine recovers), restarted by
//     the engine in a scratch directory (SQLite: hot journal rolled back, WAL replayed, PRAGMA
//     integrity_check, checkpoint) before anything goes up: one checked database file per database;
//     a file whose bytes are the newest snapshot's is not sent again, the new snapshot names the same
//     object. While only WALs changed since (the database files keep the snapshot's bytes), a push
//     ships the whole frames each WAL gained, checking that no database file changed during the read;
//     once one did, a new snapshot is due (and, with an interval, taken when it passed). A restore
//     downloads the newest snapshot taken by --time (or the newest) and the WAL parts pushed after it
//     by then, verifies every checksum and restarts and checks the databases.
//   - A log is uploaded as sealed only once a later log exists on the mirror; when the mirror's
//     record holds the log's SHA-256 (sealed by a mount), the file must match it, else it is refused
//     as corrupt. Of the newest log, each push uploads the bytes it gained as a part, after checking
//     that the bytes the archive holds are still its prefix (else its whole content goes up again).
//   - A push takes a new snapshot when the archive has none, and when the mirror no longer holds the
//     logs after the archive's newest (they were retained and dropped before a push): a snapshot
//     needs an unbroken log range after it.
//   - restore writes nothing outside its target, refuses a target that is not empty, builds the
//     environment in a directory beside the target and renames it into place only after every object
//     was verified, the engine's catastrophic recovery succeeded and every database verified: a
//     failed restore leaves the target as it was. A corrupt or missing object is named.
//   - A prune (retention) never drops what the oldest kept snapshot needs: its files, every log from
//     its FirstLog on, and the newest manifest naming them. It writes the manifest that names only what
//     is kept before deleting anything, deletes objects before the manifests that named them, and
//     leaves only manifests whose every object is kept: every manifest in the bucket restores.
//   - Uploads resume. An object larger than the part size goes up as a multipart upload; one that
//     stopped half-way is resumed by the next upload of its name, which sends only the parts the
//     server does not hold with the local bytes' size and MD5 (multipart.go). A push that needs a
//     snapshot takes over the snapshot an interrupted push began (its ID: objects or incomplete
//     uploads below snapshots/<ID>/ that no manifest names, newer than the newest it names); it
//     reads every file again, so the copy is this push's whatever the earlier one held, and reuses
//     an object the earlier push completed only when it hashes to the file's bytes now. Once a push
//     succeeded it aborts the incomplete uploads it did not resume; a prune aborts those begun
//     before the newest manifest was written. No incomplete upload outlives the next good push.
//   - Secrets are never printed, logged or put into an error: only the endpoint, bucket and keys.
//
// It uses engine (which files are logs and databases, recovery) and meta (the mirror's record); it
// prints nothing and knows nothing of FUSE or of the mirror's internals.
package archive
