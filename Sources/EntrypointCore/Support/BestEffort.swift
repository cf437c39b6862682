// The one sanctioned way to drop a C result: with the reason at the call site.

/// Ignores the result of a C call whose failure cannot change what happens next (a cleanup on an
/// error path that is already being reported, a test hook, a call that fails only on arguments we
/// never pass). `reason` is the why, written where the call is, so a reader (and grep) sees it.
/// Everything else is checked.
@inline(__always)
func bestEffort<T>(_ reason: StaticString, _ result: T) {}
