package bdb

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

const logPrefix = "log."

// ParseLogName returns the number of a Berkeley DB log file name ("log.0000000042" → 42). Only the
// exact form the library writes is accepted: "log." and ten decimal digits, not zero.
func ParseLogName(name string) (uint32, bool) {
	digits, ok := strings.CutPrefix(name, logPrefix)
	if !ok || len(digits) != 10 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint32(n), true
}

// FormatLogName is the inverse of ParseLogName.
func FormatLogName(n uint32) string { return fmt.Sprintf("%s%010d", logPrefix, n) }

// IsRegionName reports whether a base name is a region file that recovery rebuilds.
func IsRegionName(base string) bool { return strings.HasPrefix(base, "__db.") }

// IsStagedName reports whether a base name is a database Berkeley DB is creating, which it then
// renames to its real name: __db. followed by the creating transaction's id and a random part, both
// in hex, printed without leading zeros (__db.80000001.ce8c044d, __db.80000003.2ca7090).
func IsStagedName(base string) bool {
	rest, ok := strings.CutPrefix(base, "__db.")
	if !ok {
		return false
	}
	txn, rnd, ok := strings.Cut(rest, ".")
	return ok && isHex32(txn) && isHex32(rnd)
}

// isHex32 reports whether s is a 32-bit number in hex: 1 to 8 hex digits.
func isHex32(s string) bool {
	return len(s) >= 1 && len(s) <= 8 && isHex(s)
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// logNumber is ParseLogName of a relative path's last element.
func logNumber(rel string) (uint32, bool) { return ParseLogName(path.Base(rel)) }
