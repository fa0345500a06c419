// Package workload is a real Berkeley DB transactional workload (cgo against libdb 5.3), used by the
// failover drill and the integration tests: two databases updated in one transaction per commit,
// synchronous commits, values derived from keys so that content can be checked, small log files so
// that logs rotate, and periodic checkpoints.
//
// Run reports each commit only after txn->commit returned success AND a log flush (DB_ENV->log_flush)
// after it succeeded, so the caller records exactly the acknowledged commits; Check later proves that
// each of them survived. When the flush fails after a successful commit, the error says so (that
// commit was not acknowledged): the evidence that tells a commit whose log write Berkeley DB
// dropped from a loss of the mirror.
package workload
