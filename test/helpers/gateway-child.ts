import { ConfigSchema } from '../../src/config/schema.js';
import { startGateway } from '../../src/gateway.js';

// A gateway in its own process, for tests that need two real processes on one
// store. Config (JSON) comes in GH_TEST_GATEWAY_CONFIG; its clock is real time
// plus an offset the parent moves with {advance: ms} messages (acknowledged).

interface Advance {
  readonly advance: number;
}

async function main(): Promise<void> {
  let offset = Number(process.env.GH_TEST_CLOCK_OFFSET ?? 0);
  const config = ConfigSchema.parse(JSON.parse(process.env.GH_TEST_GATEWAY_CONFIG ?? '{}'));
  const gateway = await startGateway(config, { now: () => Date.now() + offset });
  await gateway.ready;
  process.on('message', (m: Advance | 'stop') => {
    if (m === 'stop') {
      void gateway.close().then(() => process.exit(0));
      return;
    }
    offset += m.advance;
    process.send?.({ advanced: offset });
  });
  // A parent that dies without saying stop must not leave this process behind.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ url: gateway.url });
}

main().catch((err: unknown) => {
  console.error('gateway child failed:', err);
  process.exit(1);
});
