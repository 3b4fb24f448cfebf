/**
 * A reader that stops early (`booking-facade smoke … | head -n 3`) closes stdout's pipe. That is the
 * end of the output, not of the command: smoke must still cancel what it booked, and the command
 * keeps its own exit code. So on EPIPE later writes to stdout go nowhere and the command runs on.
 */
let closed = false;

/** True once the reader of stdout went away: commands that only print may stop early. */
export function outputClosed(): boolean {
  return closed;
}

export function keepRunningWhenOutputCloses(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (closed) return;
    closed = true;
    process.stdout.write = ((...args: unknown[]) => {
      const callback = args.find((a) => typeof a === 'function') as (() => void) | undefined;
      if (callback) process.nextTick(callback);
      return true;
    }) as typeof process.stdout.write;
    // A writer waiting for room (audit) is released.
    process.stdout.emit('drain');
  });
}
