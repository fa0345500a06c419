// Package torture runs a fault campaign: many drills (package drill), each with a fault kind and a
// moment drawn at random, and a summary by fault kind of the commits acknowledged, found and lost.
// It is the drill at scale (`mirrorctl drill --trials N`, `make torture`): every step of a trial is
// the drill's own, so the campaign tests exactly what the README's main command shows.
//
// Invariants kept here:
//   - The first trials cover every fault kind once (in a random order), so that even a short
//     campaign tries each; later trials draw the kind at random.
//   - The campaign is reproducible from its seed: the seed fixes every kind and moment.
//   - A trial that lost a commit, or ended in an unexpected way, keeps its scratch directory (the
//     mirror as it was before promote, the mount's log, the workload's last errors, the ledger);
//     every other trial leaves nothing behind (the drill's own invariant).
//   - Summary.Err fails the campaign on any loss or unexpected outcome.
package torture
