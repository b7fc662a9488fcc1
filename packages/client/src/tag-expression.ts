import { tagHash } from '@litemq/protocol';
import { invalidOptions } from './errors.js';

/** A parsed subscription expression: `*` (every message) or `a || b || c` (messages tagged a, b or c). */
export interface TagFilter {
  readonly expression: string;
  /** True for `*`: no filtering. */
  readonly all: boolean;
  readonly tags: ReadonlySet<string>;
  /** Tag hashes sent to the broker (empty = every tag). */
  readonly hashes: readonly number[];
}

export function parseTagExpression(expression = '*'): TagFilter {
  if (typeof expression !== 'string') throw invalidOptions('a subscription expression must be a string');
  const trimmed = expression.trim();
  if (trimmed === '' || trimmed === '*') return { expression: '*', all: true, tags: new Set(), hashes: [] };
  const tags = new Set<string>();
  for (const part of trimmed.split('||')) {
    const tag = part.trim();
    if (tag === '' || tag === '*') throw invalidOptions(`invalid tag expression ${JSON.stringify(expression)}: use '*' or 'tagA || tagB'`);
    tags.add(tag);
  }
  const hashes = [...new Set([...tags].map((tag) => tagHash(tag)))].sort((a, b) => a - b);
  return { expression: [...tags].join(' || '), all: false, tags, hashes };
}

/** Exact client-side check (hashes can collide on the broker). */
export function tagMatches(filter: TagFilter, tag: string | undefined): boolean {
  return filter.all || (tag !== undefined && filter.tags.has(tag));
}
