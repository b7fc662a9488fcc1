import { defineConfig } from 'tsup';

/** Every publishable package builds the same way: ESM + CJS + declarations for Node 20. */
export function packageTsupConfig() {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
  });
}
