import { tagHash } from '@litemq/protocol';
import { describe, expect, it } from 'vitest';
import { parseSubscription, parseTagExpression, tagMatches } from '../src/tag-expression.js';

describe('tag expressions', () => {
  it('treats * and empty as every message, with no hashes sent to the broker', () => {
    for (const expression of ['*', ' * ', '', undefined]) {
      const filter = parseTagExpression(expression);
      expect(filter.all).toBe(true);
      expect(filter.hashes).toEqual([]);
      expect(tagMatches(filter, undefined)).toBe(true);
      expect(tagMatches(filter, 'x')).toBe(true);
    }
  });

  it('parses a || b into exact tags and their hashes', () => {
    const filter = parseTagExpression(' TagA ||TagB||  TagA ');
    expect(filter.all).toBe(false);
    expect([...filter.tags]).toEqual(['TagA', 'TagB']);
    expect(filter.hashes).toEqual([tagHash('TagA'), tagHash('TagB')].sort((a, b) => a - b));
    expect(filter.expression).toBe('TagA || TagB');
    expect(tagMatches(filter, 'TagA')).toBe(true);
    expect(tagMatches(filter, 'TagB')).toBe(true);
    expect(tagMatches(filter, 'TagC')).toBe(false);
    expect(tagMatches(filter, undefined)).toBe(false);
  });

  it('rejects empty alternatives and * mixed with tags', () => {
    expect(() => parseTagExpression('a ||')).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    expect(() => parseTagExpression('a || *')).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });
});

describe('subscriptions with an SQL filter', () => {
  it('keeps the string form for tags and adds a parsed SQL filter from the object form', () => {
    expect(parseSubscription('a || b').sql).toBeUndefined();
    const filter = parseSubscription({ sql: "region = 'eu' AND amount > 100" });
    expect(filter.all).toBe(true);
    expect(filter.sql?.matches({ region: 'eu', amount: '101' })).toBe(true);
    expect(filter.sql?.matches({ region: 'eu', amount: '100' })).toBe(false);
    const both = parseSubscription({ tags: 'x', sql: 'n IS NULL' });
    expect([...both.tags]).toEqual(['x']);
    expect(both.sql?.expression).toBe('n IS NULL');
  });

  it('throws a typed error with the position for an invalid expression', () => {
    expect(() => parseSubscription({ sql: 'a IN (1,' })).toThrow(expect.objectContaining({ code: 'FILTER_EXPRESSION_INVALID', position: 8 }));
  });
});
