import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_SQL_FILTER_DEPTH,
  ProtocolError,
  ProtocolErrorCode,
  SqlFilterError,
  decodeRecord,
  emptySections,
  encodeRecord,
  parseSqlFilter,
  readRecordSections,
} from '../src/index.js';

const props = { region: 'eu', amount: '150', tier: 'gold', note: "it's", neg: '-3.5' };

describe('SQL filter evaluation', () => {
  const table: [string, boolean][] = [
    ["region = 'eu'", true],
    ["region = 'us'", false],
    ["region <> 'us'", true],
    ['amount > 100', true],
    ['amount > 1000', false],
    ['amount >= 150', true],
    ['amount <= 149.5', false],
    ['amount < 1.5e3', true],
    ['neg < -3', true],
    ["amount = '150'", true],
    ["amount > '1000'", true], // a string literal compares as text: '150' > '1000'
    ["region = 'eu' AND amount > 100", true],
    ["region = 'us' OR amount > 100", true],
    ["region = 'us' OR amount > 200", false],
    ["NOT region = 'us'", true],
    ["NOT (region = 'eu' AND tier = 'gold')", false],
    ["tier IN ('gold', 'silver')", true],
    ["tier NOT IN ('gold', 'silver')", false],
    ['amount IN (100, 150)', true],
    ['amount BETWEEN 100 AND 200', true],
    ['amount BETWEEN 151 AND 200', false],
    ['amount NOT BETWEEN 151 AND 200', true],
    ["note = 'it''s'", true],
    ['missing IS NULL', true],
    ['missing IS NOT NULL', false],
    ['region IS NOT NULL', true],
    ["missing = 'x'", false],
    ["missing <> 'x'", false],
    ["NOT missing = 'x'", false], // UNKNOWN stays UNKNOWN
    ["missing = 'x' OR region = 'eu'", true],
    ['missing BETWEEN 1 AND 2', false],
    ["missing IN ('a')", false],
    ["missing NOT IN ('a')", false],
    ["TAGS = 'TagA'", true],
    ["TAGS IN ('TagB', 'TagA')", true],
    ['region > 5', false], // a non-numeric property compared to a number is UNKNOWN
    ["region = 'eu' and amount > 100 or tier = 'x'", true],
    ["(region = 'us' OR tier = 'gold') AND amount BETWEEN 100 AND 200", true],
  ];
  it.each(table)('%s → %s', (expression, expected) => {
    expect(parseSqlFilter(expression).matches(props, 'TagA')).toBe(expected);
  });

  it('TAGS is NULL for an untagged message', () => {
    expect(parseSqlFilter('TAGS IS NULL').matches({})).toBe(true);
  });

  it('numeric comparisons agree with JavaScript numbers', () => {
    const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 });
    fc.assert(
      fc.property(finite, finite, (a, b) => {
        const filter = parseSqlFilter(`x < ${b}`);
        expect(filter.matches({ x: String(a) })).toBe(a < Number(String(b)));
        expect(parseSqlFilter(`x = ${b}`).matches({ x: String(a) })).toBe(a === Number(String(b)));
      }),
    );
  });

  it('NOT p is the negation of p when every property is present, and AND/OR follow boolean logic', () => {
    const value = fc.constantFrom('a', 'b', 'c');
    fc.assert(
      fc.property(value, value, value, value, (x, y, p, q) => {
        const properties = { x, y };
        const left = `x = '${p}'`;
        const right = `y = '${q}'`;
        const l = x === p;
        const r = y === q;
        expect(parseSqlFilter(`NOT (${left})`).matches(properties)).toBe(!l);
        expect(parseSqlFilter(`${left} AND ${right}`).matches(properties)).toBe(l && r);
        expect(parseSqlFilter(`${left} OR ${right}`).matches(properties)).toBe(l || r);
      }),
    );
  });

  it('string literals round-trip any text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(parseSqlFilter(`v = '${text.replaceAll("'", "''")}'`).matches({ v: text })).toBe(true);
      }),
    );
  });

  it('reads the tag and properties straight from an encoded record', () => {
    const record = encodeRecord({ topic: 'T', body: Buffer.from('x'), tags: 'TagB', properties: { region: 'eu', amount: '42' } });
    const sections = readRecordSections(record, 0, record.length, emptySections(), Number.MAX_SAFE_INTEGER);
    expect(decodeRecord(record).tags).toBe('TagB');
    expect(parseSqlFilter("TAGS = 'TagB' AND region = 'eu' AND amount BETWEEN 40 AND 50").matchesRecord(record, sections)).toBe(true);
    expect(parseSqlFilter('amount > 42').matchesRecord(record, sections)).toBe(false);
    expect(parseSqlFilter('other IS NULL').matchesRecord(record, sections)).toBe(true);
  });
});

describe('SQL filter errors', () => {
  const invalid: [string, number][] = [
    ['', 0],
    ['   ', 3],
    ["region = 'eu", 9],
    ['region', 6],
    ['region =', 8],
    ["region == 'eu'", 8],
    ["region = 'eu' AND", 17],
    ["region = 'eu' region", 14],
    ['a IN ()', 6],
    ['a IN (b)', 6],
    ['a IN (1, 2', 10],
    ['a BETWEEN 1 2', 12],
    ['a IS 5', 5],
    ['a NOT LIKE 5', 6],
    ['(a = 1', 6],
    ['a = 1)', 5],
    ['a # 1', 2],
    ['a = 12abc', 4],
    ['a != 1', 2],
  ];
  it.each(invalid)('%j fails at position %d', (expression, position) => {
    let error: unknown;
    try {
      parseSqlFilter(expression);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SqlFilterError);
    expect(error).toBeInstanceOf(ProtocolError);
    const filterError = error as SqlFilterError;
    expect(filterError.code).toBe(ProtocolErrorCode.FILTER_EXPRESSION_INVALID);
    expect(filterError.position).toBe(position);
    expect(filterError.message).toContain(`position ${position}`);
    expect(filterError.retriable).toBe(false);
  });

  it('bounds nesting depth and length', () => {
    const deep = '('.repeat(MAX_SQL_FILTER_DEPTH + 1) + 'a = 1' + ')'.repeat(MAX_SQL_FILTER_DEPTH + 1);
    expect(() => parseSqlFilter(deep)).toThrow(SqlFilterError);
    expect(() => parseSqlFilter('NOT '.repeat(MAX_SQL_FILTER_DEPTH + 1) + 'a = 1')).toThrow(SqlFilterError);
    expect(() => parseSqlFilter(`a IN (${'1,'.repeat(3000)}1)`)).toThrow(/longer than/);
  });

  it('never throws anything but SqlFilterError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...["a", "1", "'", '(', ')', ',', '=', '<', '>', ' ', 'AND ', 'OR ', 'NOT ', 'IN ', 'IS ', 'NULL ', 'BETWEEN ', '-', '.', 'e'].map((s) => s)) }), (text) => {
        try {
          const filter = parseSqlFilter(text);
          expect(typeof filter.matches({ a: '1' })).toBe('boolean');
        } catch (error) {
          expect(error).toBeInstanceOf(SqlFilterError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
