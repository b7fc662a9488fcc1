export type { SqlNode, SqlOperand, SqlLiteral, ComparisonOperator } from './ast.js';
export { SqlFilterError, MAX_SQL_FILTER_LENGTH, tokenize } from './tokenizer.js';
export type { Token, TokenKind } from './tokenizer.js';
export { parseSqlExpression, MAX_SQL_FILTER_DEPTH } from './parser.js';
export { evaluateSqlNode } from './evaluate.js';
export type { SqlPropertyLookup } from './evaluate.js';
export { parseSqlFilter, SQL_TAGS_PROPERTY } from './sql-filter.js';
export type { SqlFilter } from './sql-filter.js';
