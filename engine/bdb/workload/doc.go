// Package workload is a real Berkeley DB transactional workload (cgo against libdb 5.3), used by the
// failover drill and the integration tests: two databases updated in one transaction per commit,
// synchronous commits, values derived from keys so that content can be checked, small log files so
// that logs rotate, and periodic checkpoints.
//
// Run reports each commit only after txn->commit returned success, so the caller records exactly the
// acknowledged commits; Check later proves that each of them survived.
package workload
