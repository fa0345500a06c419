// Package testenv holds what the tests of several packages share: the skip that .ci/run turns into
// a failure.
//
// Invariants: with MIRRORCTL_REQUIRE_ALL=1 in the environment, SkipOrFail never skips; a test that
// cannot run fails with the reason.
//
// Only tests import this package; it must not import any package of mirrorctl.
package testenv
