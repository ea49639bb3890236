// Moved to src/loopback.ts, shared with the token core; kept for the importers in server/ and gateway.ts.
export { isLoopbackAddress, isSafeEndpointUrl } from '../loopback.js';
