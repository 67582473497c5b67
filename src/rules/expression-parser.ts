/**
 * Tokenizer and recursive-descent parser for rule conditions (seed 001 §2.2 step 3:
 * `"condition": "severity >= 'medium' AND confidence_score > 0.85"`). It turns the text into a
 * small tree; `expression.ts` compiles that tree into closures once, at registration.
 *
 * Grammar, lowest precedence first (keywords are case-insensitive):
 *
 *   or         := and (('OR' | '||') and)*
 *   and        := not (('AND' | '&&') not)*
 *   not        := ('NOT' | '!') not | comparison
 *   comparison := additive [ ('=' | '==' | '!=' | '<>' | '<' | '<=' | '>' | '>=') additive
 *                          | 'NOT'? 'IN' list | 'IS' 'NOT'? 'NULL'
 *                          | 'NOT'? 'BETWEEN' additive 'AND' additive | 'NOT'? 'CONTAINS' additive ]
 *   additive   := multiplicative (('+' | '-') multiplicative)*
 *   multiplicative := unary (('*' | '/' | '%') unary)*
 *   unary      := '-' unary | primary
 *   primary    := number | string | TRUE | FALSE | NULL | path | '(' or ')'
 *   path       := name ('.' name | '[' index ']' | '[' string ']')*
 *   list       := '(' literal (',' literal)* ')' | '[' literal (',' literal)* ']'
 *
 * Nothing here recurses without bound: the text is at most 4,000 characters and both the
 * bracket/unary nesting and the height of the tree are capped at 64, so a hostile condition gets
 * a CITY_ERR_RULE_CONDITION_INVALID rather than a stack overflow.
 */
import { cityError, type CityError } from '../errors.js';

export const MAX_CONDITION_LENGTH = 4000;
export const MAX_CONDITION_DEPTH = 64;

/** Names a path may never read: they reach the prototype chain rather than event data. */
const FORBIDDEN_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const KEYWORDS: ReadonlySet<string> = new Set(['AND', 'OR', 'NOT', 'IN', 'IS', 'NULL', 'BETWEEN', 'CONTAINS', 'TRUE', 'FALSE']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type Literal = number | string | boolean | null;
/** A string reads an own property; a number reads an array element. */
export type Segment = string | number;
export type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=';
export type ArithOp = '+' | '-' | '*' | '/' | '%';

interface At {
  /** 0-based index in the source of the token that starts (or, for operators, names) the node. */
  readonly pos: number;
  /** Height of the subtree, capped at MAX_CONDITION_DEPTH. */
  readonly h: number;
}
export interface LiteralNode extends At { readonly kind: 'literal'; readonly value: Literal }
export interface PathNode extends At { readonly kind: 'path'; readonly path: string; readonly segments: readonly Segment[] }
export interface NegNode extends At { readonly kind: 'neg'; readonly operand: ValueNode }
export interface ArithNode extends At { readonly kind: 'arith'; readonly op: ArithOp; readonly left: ValueNode; readonly right: ValueNode }
export type ValueNode = LiteralNode | PathNode | NegNode | ArithNode;

export interface CompareNode extends At { readonly kind: 'compare'; readonly op: CompareOp; readonly left: ValueNode; readonly right: ValueNode }
export interface InNode extends At { readonly kind: 'in'; readonly negated: boolean; readonly operand: ValueNode; readonly items: readonly LiteralNode[] }
export interface BetweenNode extends At {
  readonly kind: 'between';
  readonly negated: boolean;
  readonly operand: ValueNode;
  readonly low: ValueNode;
  readonly high: ValueNode;
}
export interface IsNullNode extends At { readonly kind: 'isNull'; readonly negated: boolean; readonly operand: ValueNode }
export interface ContainsNode extends At { readonly kind: 'contains'; readonly negated: boolean; readonly operand: ValueNode; readonly needle: ValueNode }
export interface NotNode extends At { readonly kind: 'not'; readonly operand: CondNode }
export interface LogicNode extends At { readonly kind: 'and' | 'or'; readonly items: readonly CondNode[] }
/** A bare boolean field (`is_emergency AND ...`) or `true`/`false` where a condition is expected. */
export interface TruthNode extends At { readonly kind: 'truth'; readonly operand: PathNode | LiteralNode }
export type CondNode = CompareNode | InNode | BetweenNode | IsNullNode | ContainsNode | NotNode | LogicNode | TruthNode;
type Node = ValueNode | CondNode;

export interface ParsedCondition {
  readonly root: CondNode;
  /** Every path the condition reads, canonical spelling, in order of first appearance. */
  readonly fields: ReadonlyMap<string, readonly Segment[]>;
}

export function conditionError(source: string, position: number, reason: string): CityError {
  return cityError('RULE_CONDITION_INVALID', { position, reason, source });
}

/** Parses a condition; throws CITY_ERR_RULE_CONDITION_INVALID with { position, reason, source }. */
export function parseCondition(source: string): ParsedCondition {
  if (typeof source !== 'string') throw conditionError(String(source), 0, 'the condition must be a string');
  if (source.length > MAX_CONDITION_LENGTH) {
    throw conditionError(source, MAX_CONDITION_LENGTH, `the condition is ${source.length} characters long; the limit is ${MAX_CONDITION_LENGTH}`);
  }
  const parser = new Parser(source, tokenize(source));
  return { root: parser.parse(), fields: parser.fields };
}

// ---------------------------------------------------------------------------------------------
// Tokens

type TokenType = 'num' | 'str' | 'name' | 'op' | 'eof';
interface Token {
  readonly type: TokenType;
  readonly pos: number;
  /** The source text of the token (for 'str', including its quotes). */
  readonly text: string;
  readonly value: number | string;
  /** The upper-cased keyword when a 'name' is one, else ''. */
  readonly word: string;
}

const OPERATORS_2 = new Set(['==', '!=', '<>', '<=', '>=', '&&', '||']);
const OPERATORS_1 = new Set(['=', '<', '>', '!', '+', '-', '*', '/', '%', '(', ')', '[', ']', ',', '.']);
const UNKNOWN_OPERATORS: Readonly<Record<string, string>> = {
  '===': 'use = or ==',
  '!==': 'use != or <>',
  '=>': 'use >=',
  '=<': 'use <=',
  '**': 'there is no power operator',
  '&': 'use AND or &&',
  '|': 'use OR or ||',
  '^': 'there are no bitwise operators',
  '~': 'there are no bitwise operators',
};
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v', '0': '\0', '\\': '\\', "'": "'", '"': '"', '/': '/' };

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isNameStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}
function isNamePart(c: number): boolean {
  return isNameStart(c) || isDigit(c);
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const n = source.length;
  const fail = (pos: number, reason: string): never => {
    throw conditionError(source, pos, reason);
  };
  let i = 0;
  while (i < n) {
    const c = source.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      i++;
      continue;
    }
    const start = i;
    if (isDigit(c)) {
      while (i < n && isDigit(source.charCodeAt(i))) i++;
      if (source[i] === '.' && isDigit(source.charCodeAt(i + 1))) for (i++; i < n && isDigit(source.charCodeAt(i)); ) i++;
      if (source[i] === 'e' || source[i] === 'E') {
        const sign = source[i + 1] === '+' || source[i + 1] === '-' ? 1 : 0;
        if (isDigit(source.charCodeAt(i + 1 + sign))) for (i += 1 + sign; i < n && isDigit(source.charCodeAt(i)); ) i++;
      }
      if (i < n && isNamePart(source.charCodeAt(i))) fail(start, `invalid number '${source.slice(start, i + 1)}'`);
      const text = source.slice(start, i);
      const value = Number(text);
      if (!Number.isFinite(value)) fail(start, `number ${text} is out of range`);
      tokens.push({ type: 'num', pos: start, text, value, word: '' });
    } else if (isNameStart(c)) {
      while (i < n && isNamePart(source.charCodeAt(i))) i++;
      const text = source.slice(start, i);
      const upper = text.toUpperCase();
      tokens.push({ type: 'name', pos: start, text, value: text, word: KEYWORDS.has(upper) ? upper : '' });
    } else if (c === 39 || c === 34) {
      const quote = source[i];
      let value = '';
      let chunk = ++i;
      for (;;) {
        if (i >= n) fail(start, 'unterminated string');
        const ch = source[i];
        if (ch === quote) break;
        if (ch !== '\\') {
          i++;
          continue;
        }
        value += source.slice(chunk, i);
        const esc = source[i + 1];
        if (esc === undefined) fail(start, 'unterminated string');
        if (esc === 'u') {
          const hex = source.slice(i + 2, i + 6);
          if (!/^[0-9A-Fa-f]{4}$/.test(hex)) fail(i, 'a \\u escape needs four hex digits');
          value += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          const decoded = ESCAPES[esc!];
          if (decoded === undefined) fail(i, `unknown escape '\\${esc}'`);
          value += decoded;
          i += 2;
        }
        chunk = i;
      }
      value += source.slice(chunk, i++);
      tokens.push({ type: 'str', pos: start, text: source.slice(start, i), value, word: '' });
    } else {
      const three = source.slice(i, i + 3);
      const two = source.slice(i, i + 2);
      const one = source[i]!;
      // Longest match first, so that '===' is named as such and '&&' is not read as '&'.
      const unknown = (op: string): void => {
        if (Object.hasOwn(UNKNOWN_OPERATORS, op)) fail(start, `unknown operator '${op}': ${UNKNOWN_OPERATORS[op]}`);
      };
      unknown(three);
      if (!OPERATORS_2.has(two)) unknown(two);
      if (!OPERATORS_2.has(two)) unknown(one);
      const text = OPERATORS_2.has(two) ? two : OPERATORS_1.has(one) ? one : fail(start, `unexpected character '${one}'`);
      i += text.length;
      tokens.push({ type: 'op', pos: start, text, value: text, word: '' });
    }
  }
  tokens.push({ type: 'eof', pos: n, text: '', value: '', word: '' });
  return tokens;
}

function describe(t: Token): string {
  if (t.type === 'eof') return 'end of input';
  if (t.type === 'name') return t.word !== '' ? t.word : `'${t.text}'`;
  const text = t.text.length > 40 ? `${t.text.slice(0, 37)}...` : t.text;
  return t.type === 'str' ? `string ${text}` : t.type === 'num' ? `number ${text}` : `'${text}'`;
}

function describeNode(node: ValueNode): string {
  if (node.kind === 'path') return `field ${node.path}`;
  if (node.kind !== 'literal') return 'arithmetic';
  if (node.value === null) return 'null';
  return typeof node.value === 'string' ? `the string '${node.value}'` : `the ${typeof node.value} ${node.value}`;
}

/** The canonical spelling of a path: `a.b[0]`, or `a["x-y"]` for a name that is not an identifier. */
function pathText(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (IDENTIFIER.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parser

const COMPARE_OPS: Readonly<Record<string, CompareOp>> = { '=': '=', '==': '=', '!=': '!=', '<>': '!=', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };

class Parser {
  readonly fields = new Map<string, readonly Segment[]>();
  private i = 0;
  private depth = 0;

  constructor(
    private readonly source: string,
    private readonly tokens: readonly Token[],
  ) {}

  parse(): CondNode {
    if (this.peek().type === 'eof') this.fail(0, 'the condition is empty');
    const node = this.parseOr();
    const t = this.peek();
    if (t.type !== 'eof') this.failAfterOperand(t, undefined);
    return this.condition(node);
  }

  private fail(pos: number, reason: string): never {
    throw conditionError(this.source, pos, reason);
  }

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  private next(): Token {
    const t = this.tokens[this.i]!;
    if (t.type !== 'eof') this.i++;
    return t;
  }

  private isOp(t: Token, text: string): boolean {
    return t.type === 'op' && t.text === text;
  }

  private enter(pos: number): void {
    if (++this.depth > MAX_CONDITION_DEPTH) this.fail(pos, `the condition nests deeper than ${MAX_CONDITION_DEPTH} levels`);
  }

  private height(pos: number, ...children: Node[]): number {
    let h = 0;
    for (const c of children) if (c.h > h) h = c.h;
    if (h + 1 > MAX_CONDITION_DEPTH) this.fail(pos, `the condition nests deeper than ${MAX_CONDITION_DEPTH} levels`);
    return h + 1;
  }

  /** Where a condition is expected: a comparison, a logical node, or a bare boolean field. */
  private condition(node: Node): CondNode {
    switch (node.kind) {
      case 'path':
        return { kind: 'truth', pos: node.pos, h: 1, operand: node };
      case 'literal':
        if (typeof node.value === 'boolean') return { kind: 'truth', pos: node.pos, h: 1, operand: node };
        return this.fail(node.pos, `expected a condition, found ${describeNode(node)}`);
      case 'neg':
      case 'arith':
        return this.fail(node.pos, 'expected a condition, found arithmetic; compare it with something');
      default:
        return node;
    }
  }

  /** Where a value is expected: conditions are not values (`(a > 1) = true` is refused). */
  private value(node: Node): ValueNode {
    if (node.kind === 'literal' || node.kind === 'path' || node.kind === 'neg' || node.kind === 'arith') return node;
    return this.fail(node.pos, 'a condition cannot be used as a value; compare fields, literals and arithmetic');
  }

  private numeric(node: Node): ValueNode {
    const v = this.value(node);
    if (v.kind === 'literal' && typeof v.value !== 'number') this.fail(v.pos, `arithmetic needs numbers, found ${describeNode(v)}`);
    return v;
  }

  private failAfterOperand(t: Token, open: Token | undefined): never {
    if (t.type === 'name' && t.word === '') {
      if (t.text.toUpperCase() === 'MATCHES') {
        this.fail(t.pos, 'MATCHES is not supported: a regular expression cannot be bounded in time; use CONTAINS or IN');
      }
      this.fail(t.pos, `unknown operator '${t.text}'`);
    }
    if (open !== undefined) {
      if (t.type === 'eof') this.fail(t.pos, `missing closing parenthesis for '(' at position ${open.pos}`);
      this.fail(t.pos, `expected ')' to close '(' at position ${open.pos}, found ${describe(t)}`);
    }
    if (this.isOp(t, ')')) this.fail(t.pos, "unmatched ')'");
    return this.fail(t.pos, `unexpected ${describe(t)} after the end of the condition`);
  }

  private parseOr(): Node {
    return this.parseLogic('or', 'OR', '||');
  }

  private parseAnd(): Node {
    return this.parseLogic('and', 'AND', '&&');
  }

  private parseLogic(kind: 'and' | 'or', word: string, symbol: string): Node {
    const first = kind === 'or' ? this.parseAnd() : this.parseNot();
    let t = this.peek();
    if (t.word !== word && !this.isOp(t, symbol)) return first;
    // Flattened, so that `a OR b OR ... ` of any length is one node evaluated by a loop.
    const items: CondNode[] = [this.condition(first)];
    while (t.word === word || this.isOp(t, symbol)) {
      this.next();
      items.push(this.condition(kind === 'or' ? this.parseAnd() : this.parseNot()));
      t = this.peek();
    }
    return { kind, pos: items[0]!.pos, h: this.height(items[0]!.pos, ...items), items };
  }

  private parseNot(): Node {
    const t = this.peek();
    if (t.word !== 'NOT' && !this.isOp(t, '!')) return this.parseComparison();
    this.next();
    this.enter(t.pos);
    const operand = this.condition(this.parseNot());
    this.depth--;
    return { kind: 'not', pos: t.pos, h: this.height(t.pos, operand), operand };
  }

  private parseComparison(): Node {
    const first = this.parseAdditive();
    const t = this.peek();
    let node: CondNode;
    const compareOp = t.type === 'op' && Object.hasOwn(COMPARE_OPS, t.text) ? COMPARE_OPS[t.text] : undefined;
    if (compareOp !== undefined) {
      this.next();
      const left = this.value(first);
      const right = this.value(this.parseAdditive());
      for (const side of [left, right]) {
        if (side.kind === 'literal' && side.value === null) this.fail(side.pos, 'nothing compares equal to null; use IS NULL or IS NOT NULL');
      }
      node = { kind: 'compare', pos: t.pos, h: this.height(t.pos, left, right), op: compareOp, left, right };
    } else if (t.word === 'IS') {
      this.next();
      const negated = this.peek().word === 'NOT';
      if (negated) this.next();
      const n = this.next();
      if (n.word !== 'NULL') this.fail(n.pos, `expected NULL or NOT NULL after IS, found ${describe(n)}`);
      const operand = this.value(first);
      node = { kind: 'isNull', pos: t.pos, h: this.height(t.pos, operand), negated, operand };
    } else if (t.word === 'IN' || t.word === 'BETWEEN' || t.word === 'CONTAINS' || t.word === 'NOT') {
      this.next();
      const negated = t.word === 'NOT';
      const opToken = negated ? this.next() : t;
      const operand = this.value(first);
      if (opToken.word === 'IN') {
        const items = this.parseList(opToken);
        node = { kind: 'in', pos: opToken.pos, h: this.height(opToken.pos, operand), negated, operand, items };
      } else if (opToken.word === 'BETWEEN') {
        const low = this.value(this.parseAdditive());
        const and = this.next();
        if (and.word !== 'AND') this.fail(and.pos, `expected AND in BETWEEN ... AND ..., found ${describe(and)}`);
        const high = this.value(this.parseAdditive());
        node = { kind: 'between', pos: opToken.pos, h: this.height(opToken.pos, operand, low, high), negated, operand, low, high };
      } else if (opToken.word === 'CONTAINS') {
        const needle = this.value(this.parseAdditive());
        node = { kind: 'contains', pos: opToken.pos, h: this.height(opToken.pos, operand, needle), negated, operand, needle };
      } else {
        return this.fail(opToken.pos, `expected IN, BETWEEN or CONTAINS after NOT, found ${describe(opToken)}`);
      }
    } else {
      return first;
    }
    const after = this.peek();
    if ((after.type === 'op' && Object.hasOwn(COMPARE_OPS, after.text)) || ['IS', 'IN', 'BETWEEN', 'CONTAINS'].includes(after.word)) {
      this.fail(after.pos, 'comparisons cannot be chained; join them with AND');
    }
    return node;
  }

  private parseList(opToken: Token): LiteralNode[] {
    const open = this.next();
    if (!this.isOp(open, '(') && !this.isOp(open, '[')) this.fail(open.pos, `expected a list like ('a', 'b') after IN, found ${describe(open)}`);
    const close = open.text === '(' ? ')' : ']';
    const items: LiteralNode[] = [];
    if (this.isOp(this.peek(), close)) this.fail(this.peek().pos, `the list after IN at position ${opToken.pos} is empty`);
    for (;;) {
      let t = this.next();
      const minus = this.isOp(t, '-') ? t : undefined;
      if (minus !== undefined) t = this.next();
      if (t.type === 'num') items.push({ kind: 'literal', pos: (minus ?? t).pos, h: 0, value: minus !== undefined ? -(t.value as number) : t.value });
      else if (minus === undefined && t.type === 'str') items.push({ kind: 'literal', pos: t.pos, h: 0, value: t.value });
      else if (minus === undefined && (t.word === 'TRUE' || t.word === 'FALSE')) items.push({ kind: 'literal', pos: t.pos, h: 0, value: t.word === 'TRUE' });
      else if (minus === undefined && t.word === 'NULL') this.fail(t.pos, 'null in a list never matches; use IS NULL');
      else this.fail(t.pos, `list items must be literals (numbers, strings, true, false), found ${describe(t)}`);
      const sep = this.next();
      if (this.isOp(sep, close)) return items;
      if (!this.isOp(sep, ',')) {
        if (sep.type === 'eof') this.fail(sep.pos, `missing closing '${close}' for the list opened at position ${open.pos}`);
        this.fail(sep.pos, `expected ',' or '${close}' in the list, found ${describe(sep)}`);
      }
    }
  }

  private parseAdditive(): Node {
    let left = this.parseMultiplicative();
    for (let t = this.peek(); this.isOp(t, '+') || this.isOp(t, '-'); t = this.peek()) {
      this.next();
      left = this.arith(t, left, this.parseMultiplicative());
    }
    return left;
  }

  private parseMultiplicative(): Node {
    let left = this.parseUnary();
    for (let t = this.peek(); this.isOp(t, '*') || this.isOp(t, '/') || this.isOp(t, '%'); t = this.peek()) {
      this.next();
      left = this.arith(t, left, this.parseUnary());
    }
    return left;
  }

  private arith(t: Token, l: Node, r: Node): ArithNode {
    const left = this.numeric(l);
    const right = this.numeric(r);
    return { kind: 'arith', pos: t.pos, h: this.height(t.pos, left, right), op: t.text as ArithOp, left, right };
  }

  private parseUnary(): Node {
    const t = this.peek();
    if (!this.isOp(t, '-')) return this.parsePrimary();
    this.next();
    this.enter(t.pos);
    const operand = this.numeric(this.parseUnary());
    this.depth--;
    if (operand.kind === 'literal') return { kind: 'literal', pos: t.pos, h: 0, value: -(operand.value as number) };
    return { kind: 'neg', pos: t.pos, h: this.height(t.pos, operand), operand };
  }

  private parsePrimary(): Node {
    const t = this.next();
    switch (t.type) {
      case 'num':
      case 'str':
        return { kind: 'literal', pos: t.pos, h: 0, value: t.value };
      case 'name':
        if (t.word === 'TRUE' || t.word === 'FALSE') return { kind: 'literal', pos: t.pos, h: 0, value: t.word === 'TRUE' };
        if (t.word === 'NULL') return { kind: 'literal', pos: t.pos, h: 0, value: null };
        if (t.word === '') return this.parsePath(t);
        break;
      case 'op':
        if (t.text === '(') {
          this.enter(t.pos);
          const inner = this.parseOr();
          this.depth--;
          const close = this.peek();
          if (!this.isOp(close, ')')) this.failAfterOperand(close, t);
          this.next();
          return inner;
        }
        if (t.text === '[') this.fail(t.pos, 'a list is only allowed after IN');
        break;
    }
    const prev = this.tokens[t.type === 'eof' ? this.i - 1 : this.i - 2];
    return this.fail(t.pos, prev === undefined ? `expected a value, found ${describe(t)}` : `expected a value after ${describe(prev)}, found ${describe(t)}`);
  }

  private parsePath(first: Token): PathNode {
    const segments: Segment[] = [this.name(first)];
    for (;;) {
      const t = this.peek();
      if (this.isOp(t, '.')) {
        this.next();
        const name = this.next();
        if (name.type !== 'name') this.fail(name.pos, `expected a field name after '.', found ${describe(name)}`);
        segments.push(this.name(name)); // keywords are fine after a dot: `flags.in`
      } else if (this.isOp(t, '[')) {
        this.next();
        const key = this.next();
        if (key.type === 'num' && Number.isSafeInteger(key.value) && /^[0-9]+$/.test(key.text)) segments.push(key.value as number);
        else if (key.type === 'str') segments.push(this.name(key));
        else this.fail(key.pos, `expected an array index (0, 1, ...) or a quoted name inside [ ], found ${describe(key)}`);
        const close = this.next();
        if (!this.isOp(close, ']')) this.fail(close.pos, `expected ']' after ${describe(key)}, found ${describe(close)}`);
      } else {
        break;
      }
    }
    const path = pathText(segments);
    if (!this.fields.has(path)) this.fields.set(path, segments);
    return { kind: 'path', pos: first.pos, h: 0, path, segments };
  }

  private name(t: Token): string {
    const name = t.value as string;
    // Own properties only, and never the ones that lead into the prototype chain.
    if (FORBIDDEN_NAMES.has(name)) this.fail(t.pos, `the field name ${name} is not allowed`);
    return name;
  }
}
