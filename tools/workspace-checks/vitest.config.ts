import { packageVitestConfig } from '../../vitest.shared.js';

// ESLint (typescript-eslint + Nx project graph) and `npm pack` are slow to start on a 2-core machine.
export default packageVitestConfig({ testTimeout: 120_000 });
