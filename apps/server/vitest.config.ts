import { packageVitestConfig } from '../../vitest.shared.js';

export default packageVitestConfig({ testTimeout: 120_000 });
