package bdb

import (
	"testing"
	"time"
)

// TestLastCommitTime_Captured reads db_printlog output captured from libdb 5.3: the last commit
// (opcode 1) counts, an abort (opcode 3) after it does not.
func TestLastCommitTime_Captured(t *testing.T) {
	out := "[1][59872]__txn_regop: rec: 10 txnp 80000021 prevlsn [1][59552]\n\topcode: 1\n\ttimestamp: 1796295130 (Thu Dec  3 10:52:10 2026, 202612031052.10)\n\tenvid: 3047785882\n" +
		"[1][60192]__txn_regop: rec: 10 txnp 80000022 prevlsn [1][59872]\n\topcode: 1\n\ttimestamp: 1796295131 (Thu Dec  3 10:52:11 2026, 202612031052.11)\n\tenvid: 3047785882\n" +
		"[1][60300]__txn_regop: rec: 10 txnp 80000023 prevlsn [1][60192]\n\topcode: 3\n\ttimestamp: 1796295139 (Thu Dec  3 10:52:19 2026, 202612031052.19)\n"
	got, ok := LastCommitTime(out)
	if want := time.Unix(1796295131, 0).UTC(); !ok || !got.Equal(want) {
		t.Fatalf("LastCommitTime = %v, %v; want %v", got, ok, want)
	}
	if _, ok := LastCommitTime("[1][28]__txn_ckp: rec: 11\n"); ok {
		t.Fatal("a log without commits has a last commit")
	}
}

// TestFormatRecoverTime_LocalSeconds checks the -t format: local time, to the second.
func TestFormatRecoverTime_LocalSeconds(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 7, 900, time.Local)
	if got := FormatRecoverTime(at.UTC()); got != "202612011000.07" {
		t.Fatalf("FormatRecoverTime = %q", got)
	}
}
