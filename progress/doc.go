// Package progress shows how far a long operation is, for an operator watching it.
//
// A Reporter writes to one stream (mirrorctl gives it stderr, so that stdout stays parseable). On a
// terminal it draws a bar with the rate and the time left (github.com/vbauerster/mpb); anywhere else
// it writes one plain line every few seconds (what, done of total, rate, time left) and a last line
// when the operation ends, and nothing at all for an operation shorter than that.
//
// Invariants: the figures of both modes come from the same function and the same clock (injectable,
// for tests); a Task is shown from Start to Done and nothing is written for it after Done returns; a
// nil or turned-off Reporter, and the Tasks it hands out, do nothing.
//
// It must not: decide anything about the operation it shows, print anything but progress, or be
// used by the core packages (mirror, recovery, engine): they report figures through callbacks and
// the CLI chooses what the user sees.
package progress
