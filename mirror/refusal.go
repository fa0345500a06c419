package mirror

import "time"

// NoteRefusal logs a request the mount refused for a reason of its own (not an error of either
// disk), at most once a minute, so the operator learns why an application saw the error.
func (m *Mirror) NoteRefusal(rel string, err error) {
	if ok, suppressed := m.refusalLogged.allow(time.Now(), time.Minute); ok {
		m.log.Warn("request refused", "path", rel, "err", err, "refusals_not_logged", suppressed)
	}
}
