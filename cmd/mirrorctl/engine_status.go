package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/mirrorctl/mirrorctl/engine"
)

// engineStatus is the engine part of status: which engine the mirror holds, and what mirrorctl does
// for other engines that does not apply to this one, asked of its capabilities (never its name).
type engineStatus struct {
	Name string `json:"name"`
	// NotApplicable says, one sentence each, what does not apply to this engine and why.
	NotApplicable []string `json:"not_applicable,omitempty"`
}

func engineStatusOf(eng engine.Core) *engineStatus {
	s := &engineStatus{Name: eng.Name()}
	name := eng.Name()
	if _, ok := eng.(engine.RotatingLogs); !ok {
		s.NotApplicable = append(s.NotApplicable,
			name+" keeps no log history: no log retention, no salvage of an old primary's log tail, no catastrophic recovery (promote --catastrophic), no archive or point-in-time restore (mount --archive, restore --time)")
	} else {
		if _, ok := eng.(engine.Catastrophic); !ok {
			s.NotApplicable = append(s.NotApplicable, "no catastrophic recovery (promote --catastrophic)")
		}
		if _, ok := eng.(engine.PointInTime); !ok {
			s.NotApplicable = append(s.NotApplicable, "no point-in-time restore (restore --time)")
		}
	}
	if _, ok := eng.(engine.Pending); !ok {
		s.NotApplicable = append(s.NotApplicable, name+" has no log to replay: promote opens the environment and reads it through, whatever was written last")
	}
	if _, ok := eng.(engine.Archiver); !ok {
		s.NotApplicable = append(s.NotApplicable, "no hot-backup routine: sync copies a stopped environment, or one that the mount serves")
	}
	return s
}

func printEngineStatus(w io.Writer, s *engineStatus) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "engine:      %s\n", s.Name)
	if len(s.NotApplicable) > 0 {
		fmt.Fprintf(w, "not for it:  %s\n", strings.Join(s.NotApplicable, "\n             "))
	}
}
