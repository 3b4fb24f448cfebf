// Preload (NODE_OPTIONS=--import): this process's host clock reads CLOCK_OFFSET_MS ahead (negative:
// behind), as on a host whose time synchronisation is off. Both readings of the wall clock move:
// Date.now and performance.timeOrigin (the wall-clock time the monotonic clock started at).
const offset = Number(process.env.CLOCK_OFFSET_MS ?? 0);
const realNow = Date.now;
const origin = performance.timeOrigin + offset;
Date.now = () => realNow() + offset;
Object.defineProperty(performance, 'timeOrigin', { get: () => origin });
