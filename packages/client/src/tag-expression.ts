import type { SqlFilter } from '@litemq/protocol';
import { parseSqlFilter, tagHash } from '@litemq/protocol';
import { invalidOptions } from './errors.js';

/** A parsed subscription expression: `*` (every message) or `a || b || c` (messages tagged a, b or c). */
export interface TagFilter {
  readonly expression: string;
  /** True for `*`: no filtering. */
  readonly all: boolean;
  readonly tags: ReadonlySet<string>;
  /** Tag hashes sent to the broker (empty = every tag). */
  readonly hashes: readonly number[];
  /** SQL property filter (`subscribe(topic, { sql })`), checked on the broker and again exactly here. */
  readonly sql?: SqlFilter;
}

/** The object form of a subscription: a tag expression and/or an SQL-92 subset filter over properties. */
export interface SubscriptionFilter {
  /** `*` (default) or `tagA || tagB`. */
  tags?: string;
  /** e.g. `region = 'eu' AND amount > 100`; the tag is the pseudo-property `TAGS`. */
  sql?: string;
}

/**
 * Parses a subscription: a tag expression string, or `{ tags?, sql? }`. An invalid SQL expression throws
 * SqlFilterError (code FILTER_EXPRESSION_INVALID, with the position of the problem).
 */
export function parseSubscription(subscription: string | SubscriptionFilter = '*'): TagFilter {
  if (typeof subscription === 'string') return parseTagExpression(subscription);
  if (subscription === null || typeof subscription !== 'object') throw invalidOptions('a subscription must be a tag expression or { tags?, sql? }');
  const tagFilter = parseTagExpression(subscription.tags ?? '*');
  if (subscription.sql === undefined) return tagFilter;
  if (typeof subscription.sql !== 'string') throw invalidOptions('subscription sql must be a string');
  return { ...tagFilter, sql: parseSqlFilter(subscription.sql) };
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
