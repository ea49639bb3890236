/**
 * Resolves once `holds()` is true, polling every 5 ms; rejects naming `what`
 * after `ms`. A guard against a regression hanging the run, not a measure of
 * speed: give it far more time than the event ever needs.
 */
export async function waitUntil(holds: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!holds()) {
    if (Date.now() >= deadline) throw new Error(`gave up after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
