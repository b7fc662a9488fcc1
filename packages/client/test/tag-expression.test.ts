import { tagHash } from '@litemq/protocol';
import { describe, expect, it } from 'vitest';
import { parseTagExpression, tagMatches } from '../src/tag-expression.js';

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
