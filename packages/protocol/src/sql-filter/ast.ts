/** Syntax tree of an SQL filter expression. */
export type SqlOperand =
  | { readonly type: 'property'; readonly name: string }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'number'; readonly value: number };

export type SqlLiteral = Extract<SqlOperand, { type: 'string' | 'number' }>;

export type ComparisonOperator = '=' | '<>' | '<' | '>' | '<=' | '>=';

export type SqlNode =
  | { readonly type: 'and'; readonly left: SqlNode; readonly right: SqlNode }
  | { readonly type: 'or'; readonly left: SqlNode; readonly right: SqlNode }
  | { readonly type: 'not'; readonly operand: SqlNode }
  | { readonly type: 'compare'; readonly op: ComparisonOperator; readonly left: SqlOperand; readonly right: SqlOperand }
  | { readonly type: 'in'; readonly negated: boolean; readonly operand: SqlOperand; readonly values: readonly SqlLiteral[] }
  | { readonly type: 'between'; readonly negated: boolean; readonly operand: SqlOperand; readonly low: SqlOperand; readonly high: SqlOperand }
  | { readonly type: 'isNull'; readonly negated: boolean; readonly operand: SqlOperand };
