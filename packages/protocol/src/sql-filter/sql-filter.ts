import type { RecordSections } from '../record-sections.js';
import { SYSTEM_PROPERTY_PREFIX } from '../message.js';
import type { SqlNode } from './ast.js';
import type { SqlPropertyLookup } from './evaluate.js';
import { evaluateSqlNode } from './evaluate.js';
import { parseSqlExpression } from './parser.js';

/** The pseudo-property naming a message's tag in an SQL filter. */
export const SQL_TAGS_PROPERTY = 'TAGS';

/** A parsed SQL property filter. */
export interface SqlFilter {
  readonly expression: string;
  readonly tree: SqlNode;
  /** True when the message with these user properties (and tag, as `TAGS`) matches. */
  matches(properties: Readonly<Record<string, string>>, tags?: string): boolean;
  /** Same, with a custom lookup (undefined = NULL). */
  matchesLookup(lookup: SqlPropertyLookup): boolean;
  /** Same, reading the tag and user properties straight from a record whose sections were read. */
  matchesRecord(buf: Buffer, sections: RecordSections): boolean;
}

/** Finds one user property in a record's properties section without decoding the others. */
function recordProperty(buf: Buffer, sections: RecordSections, name: string): string | undefined {
  if (name.startsWith(SYSTEM_PROPERTY_PREFIX)) return undefined;
  let at = sections.propertiesStart;
  const end = at + sections.propertiesLength;
  while (at < end) {
    const nameLength = buf[at]!;
    const nameEnd = at + 1 + nameLength;
    if (nameEnd + 2 > end) return undefined;
    const valueLength = buf.readUInt16BE(nameEnd);
    const valueEnd = nameEnd + 2 + valueLength;
    if (valueEnd > end) return undefined;
    if (nameLength === name.length && buf.toString('latin1', at + 1, nameEnd) === name) return buf.toString('utf8', nameEnd + 2, valueEnd);
    at = valueEnd;
  }
  return undefined;
}

/**
 * Parses an SQL-92 subset filter over message properties (see parseSqlExpression). Throws SqlFilterError
 * (code FILTER_EXPRESSION_INVALID, with the position of the problem) when it is invalid.
 */
export function parseSqlFilter(expression: string): SqlFilter {
  const tree = parseSqlExpression(expression);
  const matchesLookup = (lookup: SqlPropertyLookup): boolean => evaluateSqlNode(tree, lookup);
  return {
    expression,
    tree,
    matchesLookup,
    matches(properties, tags) {
      return matchesLookup((name) => {
        if (name === SQL_TAGS_PROPERTY) return tags;
        return Object.hasOwn(properties, name) ? properties[name] : undefined;
      });
    },
    matchesRecord(buf, sections) {
      return matchesLookup((name) => {
        if (name === SQL_TAGS_PROPERTY) return sections.tagsLength === 0 ? undefined : buf.toString('utf8', sections.tagsStart, sections.tagsStart + sections.tagsLength);
        return recordProperty(buf, sections, name);
      });
    },
  };
}
