import { fileURLToPath } from 'node:url';

/** Absolute path of the monorepo root (this file is tools/workspace-checks/test/workspace.ts). */
export const workspaceRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Every publishable library, by directory under packages/. */
export const LIBRARY_DIRS = ['protocol', 'storage', 'delay', 'txn', 'nameserver', 'broker', 'client'] as const;
