import type { SqlFilter } from '@litemq/protocol';
import { ResponseCode, SqlFilterError, emptySections, parseSqlFilter, readRecordSections, rpcFailure } from '@litemq/protocol';

/** Parsed filters kept per expression (consumers send the same few expressions on every pull). */
const MAX_CACHED_FILTERS = 256;

/**
 * Broker side of SQL property filtering on PULL_MESSAGE: parses the request's `sql` (cached) and drops the
 * records it rejects from a read. The consumer re-checks exactly, so this only saves bandwidth.
 */
export class PullSqlFilters {
  private readonly cache = new Map<string, SqlFilter>();
  private readonly sections = emptySections();

  /** The parsed filter, or INVALID_REQUEST when the expression is malformed. */
  get(expression: string): SqlFilter {
    let filter = this.cache.get(expression);
    if (filter) return filter;
    try {
      filter = parseSqlFilter(expression);
    } catch (error) {
      if (error instanceof SqlFilterError) throw rpcFailure(ResponseCode.INVALID_REQUEST, error.message, error.code);
      throw error;
    }
    if (this.cache.size >= MAX_CACHED_FILTERS) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(expression, filter);
    return filter;
  }

  /** The records (concatenated as stored) that match, and how many. Returns the input when all match. */
  apply(filter: SqlFilter, records: Buffer, count: number): { records: Buffer; count: number } {
    const kept: Buffer[] = [];
    let all = true;
    for (let start = 0; start < records.length; ) {
      const sections = readRecordSections(records, start, records.length, this.sections, Number.MAX_SAFE_INTEGER);
      const end = start + sections.totalSize;
      if (filter.matchesRecord(records, sections)) kept.push(records.subarray(start, end));
      else all = false;
      start = end;
    }
    if (all) return { records, count };
    return { records: kept.length === 1 ? kept[0]! : Buffer.concat(kept), count: kept.length };
  }
}
