import type { SqlNode, SqlOperand } from './ast.js';

/** A property lookup: undefined means the property is absent (NULL). */
export type SqlPropertyLookup = (name: string) => string | undefined;

/** SQL three-valued logic: true, false or unknown (undefined). */
type Truth = boolean | undefined;

type Value = { kind: 'number'; value: number } | { kind: 'string'; value: string } | { kind: 'property'; value: string } | undefined;

const NUMERIC = /^\s*-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

function valueOf(operand: SqlOperand, lookup: SqlPropertyLookup): Value {
  if (operand.type === 'property') {
    const value = lookup(operand.name);
    return value === undefined ? undefined : { kind: 'property', value };
  }
  return operand.type === 'number' ? { kind: 'number', value: operand.value } : { kind: 'string', value: operand.value };
}

function asNumber(value: NonNullable<Value>): number | undefined {
  if (value.kind === 'number') return value.value;
  if (value.kind === 'property' && NUMERIC.test(value.value)) return Number(value.value);
  return undefined;
}

/**
 * Orders two values: numerically when both are numbers (a property value counts as a number when it is
 * numeric text), as strings when neither side is a number literal; otherwise (or with NULL) unknown.
 */
function compare(a: Value, b: Value): number | undefined {
  if (a === undefined || b === undefined) return undefined;
  const x = asNumber(a);
  const y = asNumber(b);
  if (x !== undefined && y !== undefined) return x < y ? -1 : x > y ? 1 : 0;
  if (a.kind === 'number' || b.kind === 'number') return undefined;
  const s = String(a.value);
  const t = String(b.value);
  return s < t ? -1 : s > t ? 1 : 0;
}

function evaluate(node: SqlNode, lookup: SqlPropertyLookup): Truth {
  switch (node.type) {
    case 'and': {
      const left = evaluate(node.left, lookup);
      if (left === false) return false;
      const right = evaluate(node.right, lookup);
      if (right === false) return false;
      return left === true && right === true ? true : undefined;
    }
    case 'or': {
      const left = evaluate(node.left, lookup);
      if (left === true) return true;
      const right = evaluate(node.right, lookup);
      if (right === true) return true;
      return left === false && right === false ? false : undefined;
    }
    case 'not': {
      const value = evaluate(node.operand, lookup);
      return value === undefined ? undefined : !value;
    }
    case 'compare': {
      const order = compare(valueOf(node.left, lookup), valueOf(node.right, lookup));
      if (order === undefined) return undefined;
      switch (node.op) {
        case '=':
          return order === 0;
        case '<>':
          return order !== 0;
        case '<':
          return order < 0;
        case '>':
          return order > 0;
        case '<=':
          return order <= 0;
        case '>=':
          return order >= 0;
      }
      return undefined;
    }
    case 'in': {
      const value = valueOf(node.operand, lookup);
      if (value === undefined) return undefined;
      let unknown = false;
      for (const candidate of node.values) {
        const order = compare(value, valueOf(candidate, lookup));
        if (order === 0) return !node.negated;
        if (order === undefined) unknown = true;
      }
      return unknown ? undefined : node.negated;
    }
    case 'between': {
      const value = valueOf(node.operand, lookup);
      const low = compare(value, valueOf(node.low, lookup));
      const high = compare(value, valueOf(node.high, lookup));
      if (low === undefined || high === undefined) return undefined;
      const inside = low >= 0 && high <= 0;
      return node.negated ? !inside : inside;
    }
    case 'isNull': {
      const isNull = valueOf(node.operand, lookup) === undefined;
      return node.negated ? !isNull : isNull;
    }
  }
}

/** True only when the expression is TRUE for these properties (FALSE and UNKNOWN both reject). */
export function evaluateSqlNode(node: SqlNode, lookup: SqlPropertyLookup): boolean {
  return evaluate(node, lookup) === true;
}
