/**
 * A mistake in what the caller asked for (a missing or wrong run folder, a bad option value) rather than a
 * failure of the work itself. The library throws it; the `calm` command prints its message alone and exits
 * with status 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
