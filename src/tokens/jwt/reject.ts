import { GatehouseError, type ErrorCode } from '../../errors.js';

/**
 * Builds the error for a refused token without capturing a stack trace.
 * A refusal is an expected outcome, not a fault: its stack says nothing, and
 * capturing it costs about half as much as the RSA verification itself, on
 * the path an attacker can drive at will (measured with --cpu-prof on a flood
 * of bad signatures).
 */
export function refuse(code: ErrorCode, message: string): GatehouseError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new GatehouseError(code, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
