import { ProtocolError, ProtocolErrorCode } from '../errors.js';

/** Longest SQL filter expression accepted (characters). */
export const MAX_SQL_FILTER_LENGTH = 4096;

/** A malformed or unsupported SQL filter expression; `position` is the 0-based character index of the problem. */
export class SqlFilterError extends ProtocolError {
  constructor(
    message: string,
    readonly expression: string,
    readonly position: number,
  ) {
    super(ProtocolErrorCode.FILTER_EXPRESSION_INVALID, `invalid SQL filter at position ${position}: ${message} (in ${JSON.stringify(expression)})`);
    this.name = 'SqlFilterError';
  }
}

export type TokenKind = 'ident' | 'string' | 'number' | 'keyword' | 'op' | 'lparen' | 'rparen' | 'comma' | 'end';

export interface Token {
  readonly kind: TokenKind;
  /** Keywords are upper-cased; strings are unescaped; numbers keep their source text. */
  readonly text: string;
  readonly position: number;
}

export const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'BETWEEN', 'IS', 'NULL']);
const OPERATORS = ['<=', '>=', '<>', '=', '<', '>'];

function isIdentStart(ch: string): boolean {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch === '_';
}

function isIdentPart(ch: string): boolean {
  return isIdentStart(ch) || (ch >= '0' && ch <= '9') || ch === '.' || ch === '-';
}

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

const NUMBER = /-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?/y;

/** Splits an expression into tokens; throws SqlFilterError on an unknown character or an unterminated string. */
export function tokenize(expression: string): Token[] {
  if (expression.length > MAX_SQL_FILTER_LENGTH) {
    throw new SqlFilterError(`expression longer than ${MAX_SQL_FILTER_LENGTH} characters`, expression.slice(0, 64) + '...', MAX_SQL_FILTER_LENGTH);
  }
  const tokens: Token[] = [];
  let at = 0;
  while (at < expression.length) {
    const ch = expression[at]!;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      at++;
      continue;
    }
    const start = at;
    if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ kind: ch === '(' ? 'lparen' : ch === ')' ? 'rparen' : 'comma', text: ch, position: start });
      at++;
      continue;
    }
    if (ch === "'") {
      let value = '';
      at++;
      for (;;) {
        if (at >= expression.length) throw new SqlFilterError('unterminated string literal', expression, start);
        const c = expression[at]!;
        if (c === "'") {
          if (expression[at + 1] === "'") {
            value += "'";
            at += 2;
            continue;
          }
          at++;
          break;
        }
        value += c;
        at++;
      }
      tokens.push({ kind: 'string', text: value, position: start });
      continue;
    }
    if (isDigit(ch) || ((ch === '-' || ch === '.') && (isDigit(expression[at + 1]) || (expression[at + 1] === '.' && isDigit(expression[at + 2]))))) {
      NUMBER.lastIndex = at;
      const match = NUMBER.exec(expression);
      if (!match) throw new SqlFilterError(`invalid number`, expression, start);
      at += match[0].length;
      if (at < expression.length && isIdentPart(expression[at]!)) throw new SqlFilterError(`invalid number`, expression, start);
      tokens.push({ kind: 'number', text: match[0], position: start });
      continue;
    }
    if (isIdentStart(ch)) {
      while (at < expression.length && isIdentPart(expression[at]!)) at++;
      const word = expression.slice(start, at);
      const upper = word.toUpperCase();
      tokens.push(KEYWORDS.has(upper) ? { kind: 'keyword', text: upper, position: start } : { kind: 'ident', text: word, position: start });
      continue;
    }
    const op = OPERATORS.find((candidate) => expression.startsWith(candidate, at));
    if (op !== undefined) {
      tokens.push({ kind: 'op', text: op, position: start });
      at += op.length;
      continue;
    }
    throw new SqlFilterError(`unexpected character ${JSON.stringify(ch)}`, expression, start);
  }
  tokens.push({ kind: 'end', text: '', position: expression.length });
  return tokens;
}
