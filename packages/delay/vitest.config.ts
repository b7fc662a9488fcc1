import { packageVitestConfig } from '../../vitest.shared.js';

// Placeholder package (status: planned): no tests yet. Drop passWithNoTests with the first test file.
export default packageVitestConfig({ passWithNoTests: true });
