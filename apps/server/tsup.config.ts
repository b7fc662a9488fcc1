import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/cli.ts'],
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  // V8 starts with a small old-generation limit: a broker's steady allocation then runs a full mark-compact
  // every ~0.4 s (p99 latency and throughput both suffer). 128 MiB of initial old space makes that ~1 per 5 s.
  // `env -S` passes the flag through the shebang; keep it equal to SERVER_NODE_FLAGS in tools/bench.
  banner: { js: '#!/usr/bin/env -S node --initial-old-space-size=128' },
});
