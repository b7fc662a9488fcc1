import type { ComparisonOperator, SqlLiteral, SqlNode, SqlOperand } from './ast.js';
import type { Token } from './tokenizer.js';
import { SqlFilterError, tokenize } from './tokenizer.js';

/** Deepest nesting of parentheses / NOT accepted (the parser is recursive). */
export const MAX_SQL_FILTER_DEPTH = 64;

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'end of expression';
    case 'string':
      return `string '${token.text}'`;
    default:
      return JSON.stringify(token.text);
  }
}

/**
 * Parses the SQL-92 subset: comparisons (`= <> < > <= >=`), `[NOT] IN (...)`, `[NOT] BETWEEN a AND b`,
 * `IS [NOT] NULL`, combined with `AND`, `OR`, `NOT` and parentheses. Operands are property names, single-quoted
 * strings (`''` escapes a quote) and numbers. Keywords are case-insensitive.
 */
export function parseSqlExpression(expression: string): SqlNode {
  if (typeof expression !== 'string') throw new SqlFilterError('the expression must be a string', String(expression), 0);
  const tokens = tokenize(expression);
  let index = 0;
  let depth = 0;

  const peek = (): Token => tokens[index]!;
  const next = (): Token => tokens[index++]!;
  const fail = (message: string, token: Token = peek()): never => {
    throw new SqlFilterError(message, expression, token.position);
  };
  const isKeyword = (word: string): boolean => peek().kind === 'keyword' && peek().text === word;
  const expectKeyword = (word: string): void => {
    if (!isKeyword(word)) fail(`expected ${word} but found ${describe(peek())}`);
    index++;
  };
  const enter = (): void => {
    if (++depth > MAX_SQL_FILTER_DEPTH) fail(`expression nested deeper than ${MAX_SQL_FILTER_DEPTH} levels`);
  };

  function operand(): SqlOperand {
    const token = next();
    switch (token.kind) {
      case 'ident':
        return { type: 'property', name: token.text };
      case 'string':
        return { type: 'string', value: token.text };
      case 'number': {
        const value = Number(token.text);
        if (!Number.isFinite(value)) fail(`number ${token.text} is out of range`, token);
        return { type: 'number', value };
      }
      default:
        return fail(`expected a property name, string or number but found ${describe(token)}`, token);
    }
  }

  function literal(): SqlLiteral {
    const token = peek();
    const value = operand();
    if (value.type === 'property') fail(`expected a string or number but found ${describe(token)}`, token);
    return value as SqlLiteral;
  }

  function predicate(): SqlNode {
    if (peek().kind === 'lparen') {
      enter();
      index++;
      const inner = or();
      if (peek().kind !== 'rparen') fail(`expected ')' but found ${describe(peek())}`);
      index++;
      depth--;
      return inner;
    }
    const left = operand();
    const token = peek();
    if (token.kind === 'op') {
      index++;
      return { type: 'compare', op: token.text as ComparisonOperator, left, right: operand() };
    }
    if (isKeyword('IS')) {
      index++;
      const negated = isKeyword('NOT');
      if (negated) index++;
      expectKeyword('NULL');
      return { type: 'isNull', negated, operand: left };
    }
    let negated = false;
    if (isKeyword('NOT')) {
      negated = true;
      index++;
      if (!isKeyword('IN') && !isKeyword('BETWEEN')) fail(`expected IN or BETWEEN after NOT but found ${describe(peek())}`);
    }
    if (isKeyword('IN')) {
      index++;
      if (peek().kind !== 'lparen') fail(`expected '(' after IN but found ${describe(peek())}`);
      index++;
      const values: SqlLiteral[] = [literal()];
      while (peek().kind === 'comma') {
        index++;
        values.push(literal());
      }
      if (peek().kind !== 'rparen') fail(`expected ',' or ')' but found ${describe(peek())}`);
      index++;
      return { type: 'in', negated, operand: left, values };
    }
    if (isKeyword('BETWEEN')) {
      index++;
      const low = operand();
      expectKeyword('AND');
      return { type: 'between', negated, operand: left, low, high: operand() };
    }
    return fail(`expected a comparison operator, IN, BETWEEN or IS after the operand but found ${describe(token)}`, token);
  }

  function not(): SqlNode {
    if (isKeyword('NOT')) {
      enter();
      index++;
      const operandNode = not();
      depth--;
      return { type: 'not', operand: operandNode };
    }
    return predicate();
  }

  function and(): SqlNode {
    let left = not();
    while (isKeyword('AND')) {
      index++;
      left = { type: 'and', left, right: not() };
    }
    return left;
  }

  function or(): SqlNode {
    let left = and();
    while (isKeyword('OR')) {
      index++;
      left = { type: 'or', left, right: and() };
    }
    return left;
  }

  if (peek().kind === 'end') fail('the expression is empty');
  const tree = or();
  if (peek().kind !== 'end') fail(`unexpected ${describe(peek())}`);
  return tree;
}
