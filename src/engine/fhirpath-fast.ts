/**
 * A compiler from FHIRPath to plain JavaScript closures for the subset rule files use most (member paths,
 * choice types with ofType, where/select/exists/empty/not/first/iif/count, lower, matches and replaceMatches with
 * literal patterns, =, !=, <, <=, >, >= of numbers, in, and, or, |, +, literals, %variables, inCodeSet, deref). fhirpath.js
 * interprets an AST on every call (~5–20 µs); a closure takes well under a microsecond, which is most of the engine's time on a large patient record.
 *
 * It never changes a result: static types come from the same R4 model fhirpath.js uses, anything outside the
 * subset is refused at compile time, and anything unexpected at run time (a collection where a single value is
 * needed, a non-boolean in logic, a date compared with =) throws {@link Fallback}, upon which the caller
 * evaluates the expression with fhirpath.js. `fhirpath-fast.test.ts` checks both agree on every expression of
 * the shipped rule files over every fixture resource and many mutations of them.
 */
import * as fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import { CodeSetMatcher } from './code-sets';
import { referenceKey } from './references';

export type FastFn = (resource: unknown, env: Record<string, unknown>) => unknown[];

/** Environment variable through which `deref()` sees the request's resources (a Map of `Type/id`). */
export const POOL_VAR = '__pool';

/** Thrown when an input is outside what the closure reproduces exactly: evaluate with fhirpath.js instead. */
export class Fallback extends Error {}

const fallback = (): never => {
  throw new Fallback();
};

export interface AstNode {
  type: string;
  text?: string;
  terminalNodeText?: string[];
  children?: AstNode[];
}

/** Static type of a node's values: a model path (`Observation.referenceRange`, `CodeableConcept`) or a primitive. */
type StaticType =
  /**
   * `element`: the element name it was read from (a Reference's `medication`: what `deref()` expects);
   * `guessed`: the type is what `deref()` expects, not certain (a `device` Reference may point at a DeviceMetric).
   */
  | { kind: 'path'; path: string; element?: string; guessed?: true }
  | { kind: 'primitive'; name: string }
  | { kind: 'choice'; path: string; member: string; parentFn: NodeFn; parentType: StaticType }
  /** Not an element of its parent's type in R4: always empty here (a value present in the JSON falls back). */
  | { kind: 'absent' };

const ABSENT: StaticType = { kind: 'absent' };

type NodeFn = (focus: unknown[], env: Record<string, unknown>) => unknown[];

interface Compiled {
  fn: NodeFn;
  type: StaticType | undefined;
  /** The value, when it depends on neither the focus nor the environment (literals, unions of literals). */
  constant?: readonly unknown[];
}

/**
 * Results shared by every call: closures return them instead of allocating (results are only read, never
 * changed, by this file and by the engine; frozen so that a mistake throws instead of corrupting them).
 */
const EMPTY: unknown[] = Object.freeze([] as unknown[]) as unknown[];
const TRUE: unknown[] = Object.freeze([true]) as unknown[];
const FALSE: unknown[] = Object.freeze([false]) as unknown[];
const BOOLEAN: StaticType = { kind: 'primitive', name: 'System.Boolean' };

function truth(b: boolean): unknown[] {
  return b ? TRUE : FALSE;
}

/** A node whose value is known at compile time: computed once, unless it would fall back. */
function folded(c: Compiled): Compiled {
  try {
    const value = Object.freeze(c.fn(EMPTY, {})) as unknown[];
    return { fn: () => value, type: c.type, constant: value };
  } catch (err) {
    if (err instanceof Fallback) return c;
    throw err;
  }
}

class NotCompilable extends Error {}
const refuse = (): never => {
  throw new NotCompilable();
};

const model = r4Model as unknown as {
  choiceTypePaths: Record<string, string[]>;
  path2Type: Record<string, string>;
  pathsDefinedElsewhere: Record<string, string>;
  type2Parent: Record<string, string>;
};

const PRIMITIVES = new Set(['boolean', 'integer', 'string', 'decimal', 'uri', 'url', 'canonical', 'base64Binary', 'instant', 'date', 'dateTime', 'time', 'code', 'oid', 'id', 'markdown', 'unsignedInt', 'positiveInt', 'uuid', 'xhtml']);
/** Primitives compared by JavaScript ===, exactly as FHIRPath compares them. Dates and times are not (precision). */
const PLAIN_EQUALITY = new Set(['boolean', 'integer', 'string', 'decimal', 'uri', 'url', 'canonical', 'code', 'oid', 'id', 'markdown', 'unsignedInt', 'positiveInt', 'uuid', 'System.String', 'System.Integer', 'System.Decimal', 'System.Boolean']);

/** While {@link unknownElements} compiles: where it collects the members that are not elements of their type. */
let absentSink: { type: string; name: string }[] | undefined;

/**
 * The members `expression` reads that are not elements of their type in R4 (`Observation.statuss`): always
 * empty on a valid resource, so in a rule file almost always a typo. Only members whose parent's type is known
 * are reported; where the subset ends, checking ends.
 */
export function unknownElements(expression: string, resourceType: string): { type: string; name: string }[] {
  const sink: { type: string; name: string }[] = [];
  absentSink = sink;
  try {
    // Members met before the compiler gave up are reported too: their parent's type was known.
    compileFast(expression, resourceType);
    return sink;
  } finally {
    absentSink = undefined;
  }
}

const parsed = new Map<string, AstNode>();

/**
 * fhirpath.js's syntax tree of `expression`, parsed once: loading a rule file checks and compiles each expression
 * several times (per resource type), and its parser is most of the cost. Expressions come from rule files only,
 * so the map holds one entry per expression of the loaded rules; the trees are only read.
 */
export function parseFhirPath(expression: string): AstNode {
  let ast = parsed.get(expression);
  if (!ast) parsed.set(expression, (ast = fhirpath.parse(expression) as AstNode));
  return ast;
}

/** Compiles `expression` for resources of `resourceType`, or returns undefined when it is outside the subset. */
export function compileFast(expression: string, resourceType: string): FastFn | undefined {
  try {
    const ast = parseFhirPath(expression);
    const c = compileNode(ast, { kind: 'path', path: resourceType });
    return (resource, env) => c.fn([resource], env);
  } catch (err) {
    if (err instanceof NotCompilable) return undefined;
    throw err;
  }
}

function compileNode(node: AstNode, focusType: StaticType | undefined): Compiled {
  const kids = node.children ?? [];
  switch (node.type) {
    case 'EntireExpression':
    case 'TermExpression':
    case 'InvocationTerm':
    case 'ParenthesizedTerm':
      if (kids.length !== 1) refuse();
      return compileNode(kids[0]!, focusType);
    case 'LiteralTerm':
      return literal(kids[0]!);
    case 'ExternalConstantTerm': {
      const name = kids[0]?.children?.[0]?.text ?? refuse();
      return {
        fn: (_f, env) => {
          const v = env[name];
          if (v === undefined) fallback();
          return Array.isArray(v) ? v : [v];
        },
        type: undefined,
      };
    }
    case 'ThisInvocation':
      return { fn: (focus) => focus, type: focusType };
    case 'MemberInvocation':
      return member(node.text ?? refuse(), (focus) => focus, focusType);
    case 'InvocationExpression': {
      const left = compileNode(kids[0]!, focusType);
      const right = kids[1] ?? refuse();
      if (right.type === 'MemberInvocation') {
        return member(right.text ?? refuse(), left.fn, realType(left.type));
      }
      if (right.type === 'FunctionInvocation') return fn(right, left, focusType);
      return refuse();
    }
    case 'FunctionInvocation':
      return fn(node, { fn: (focus) => focus, type: focusType }, focusType);
    case 'EqualityExpression':
      return equality(node, focusType);
    case 'InequalityExpression':
      return inequality(node, focusType);
    case 'MembershipExpression':
      return membership(node, focusType);
    case 'AndExpression':
    case 'OrExpression':
      return logic(node, focusType);
    case 'UnionExpression': {
      const left = compileNode(kids[0]!, focusType);
      const right = compileNode(kids[1]!, focusType);
      const a = left.fn;
      const b = right.fn;
      const type = commonType(realType(left.type), realType(right.type));
      // Objects are de-duplicated by fhirpath.js's deep equality; it is reproduced for plain JSON of a known
      // complex type (not Quantity, which it compares as quantities), small collections only (larger ones it
      // compares by hash), and where the answer is certain (jsonEquality); otherwise: fall back.
      const deep = type?.kind === 'path' && !isQuantity(type.path);
      const union: Compiled = {
        fn: (focus, env) => {
          const all = [...a(focus, env), ...b(focus, env)];
          const out: unknown[] = [];
          const objects: unknown[] = [];
          for (const v of all) {
            if (typeof v !== 'object' || v === null) {
              if (!out.includes(v)) out.push(v);
              continue;
            }
            if (objects.length > 0 && (!deep || all.length > 6)) fallback();
            let duplicate = false;
            for (const o of objects) {
              const eq = jsonEquality(o, v);
              if (eq === undefined) fallback();
              if ((duplicate = eq === true)) break;
            }
            if (duplicate) continue;
            objects.push(v);
            out.push(v);
          }
          return out;
        },
        type,
      };
      return left.constant && right.constant ? folded(union) : union;
    }
    case 'AdditiveExpression': {
      if (node.terminalNodeText?.[0] !== '+' && node.text !== '+') refuse();
      const a = compileNode(kids[0]!, focusType).fn;
      const b = compileNode(kids[1]!, focusType).fn;
      return {
        fn: (focus, env) => {
          const x = a(focus, env);
          const y = b(focus, env);
          if (x.length === 0 || y.length === 0) return EMPTY;
          if (x.length > 1 || y.length > 1) fallback();
          if (typeof x[0] === 'string' && typeof y[0] === 'string') return [x[0] + y[0]];
          return fallback();
        },
        type: { kind: 'primitive', name: 'System.String' },
      };
    }
    default:
      return refuse();
  }
}

function literal(node: AstNode): Compiled {
  const text = node.text ?? refuse();
  switch (node.type) {
    case 'StringLiteral':
      return constant(unescapeString(text), 'System.String');
    case 'NumberLiteral': {
      if (!/^\d+$/.test(text)) refuse(); // decimals compare with precision rules in fhirpath.js
      return constant(Number(text), 'System.Integer');
    }
    case 'BooleanLiteral':
      return constant(text === 'true', 'System.Boolean');
    default:
      return refuse();
  }
}

function constant(v: unknown, type: string): Compiled {
  const value = Object.freeze([v]) as unknown[];
  return { fn: () => value, type: { kind: 'primitive', name: type }, constant: value };
}

function unescapeString(quoted: string): string {
  const inner = quoted.slice(1, -1);
  if (!inner.includes('\\')) return inner;
  return inner.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_m, e: string) => {
    if (e.startsWith('u') && e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', r: '\r', t: '\t', f: '\f' } as Record<string, string>)[e] ?? e;
  });
}

// ---- members and choice types ------------------------------------------------------------------------------

/** Where `member` of a value of static type `t` leads, per the R4 model (undefined: not an element). */
function elementKey(t: StaticType | undefined, name: string): string | undefined {
  if (!t || t.kind !== 'path') return undefined;
  let type: string | undefined = t.path;
  while (type) {
    const key = `${type}.${name}`;
    if (key in model.choiceTypePaths || key in model.path2Type) return key;
    const elsewhere = model.pathsDefinedElsewhere[key];
    if (elsewhere) return elsewhere;
    type = model.type2Parent[type];
    if (type === 'Element' || type === 'BackboneElement' || type === 'Resource' || type === 'DomainResource') {
      const k = `${type}.${name}`;
      return k in model.path2Type ? k : undefined;
    }
  }
  return undefined;
}

function typeOfElement(key: string): StaticType {
  const t = model.path2Type[key] ?? refuse();
  if (t === 'BackboneElement' || t === 'Element') return { kind: 'path', path: key };
  if (PRIMITIVES.has(t)) return { kind: 'primitive', name: t };
  return { kind: 'path', path: t };
}

function member(name: string, parent: NodeFn, parentType: StaticType | undefined): Compiled {
  if (/^[A-Z]/.test(name)) refuse(); // a type name as the first step (Observation.status) is a type filter
  // The parent still runs: it is what falls back when the JSON holds a value after all.
  if (parentType?.kind === 'absent') return { fn: (focus, env) => (parent(focus, env), EMPTY), type: ABSENT };
  const key = elementKey(parentType, name);
  if (!key) {
    // Not an element of this type (MedicationStatement.authoredOn): fhirpath.js still reads the property from the
    // JSON, so only its absence — the case of every valid resource — is reproduced.
    if (parentType?.kind !== 'path') return refuse();
    if (!parentType.guessed) absentSink?.push({ type: parentType.path, name });
    const fn: NodeFn = (focus, env) => {
      for (const item of parent(focus, env)) {
        if (item === null || typeof item !== 'object') continue;
        const record = item as Record<string, unknown>;
        if (record[name] !== undefined || record[`_${name}`] !== undefined) fallback();
      }
      return EMPTY;
    };
    return { fn, type: ABSENT };
  }
  const choices = model.choiceTypePaths[key];
  if (choices) {
    const names = choiceNames(name, choices);
    const fn: NodeFn = (focus, env) => collectChoice(parent(focus, env), names, undefined);
    return { fn, type: { kind: 'choice', path: key, member: name, parentFn: parent, parentType: parentType! } };
  }
  const extension = `_${name}`;
  const fn: NodeFn = (focus, env) => collect(parent(focus, env), name, extension);
  const type = typeOfElement(key);
  return { fn, type: type.kind === 'path' ? { ...type, element: name, ...(parentType?.kind === 'path' && parentType.guessed ? { guessed: true } : {}) } : type };
}

/** Values of element `prop` of every item, arrays flattened; `extension` is `_${prop}`, built once by the caller. */
function collect(items: unknown[], prop: string, extension: string): unknown[] {
  if (items.length === 1) {
    // The common case (a path from the resource): no collection to build.
    const item = items[0];
    if (item === null || typeof item !== 'object') return EMPTY;
    const record = item as Record<string, unknown>;
    if (record[extension] !== undefined) fallback();
    return asCollection(record[prop]);
  }
  const out: unknown[] = [];
  for (const item of items) {
    if (item === null || typeof item !== 'object') continue;
    const record = item as Record<string, unknown>;
    if (record[extension] !== undefined) fallback(); // primitive extensions: fhirpath.js adds nodes for them
    push(out, record[prop]);
  }
  return out;
}

/** The JSON property names of a choice element (`effectiveDateTime`, `_effectiveDateTime`, …), in the model's order. */
interface ChoiceNames {
  suffixes: string[];
  props: string[];
  extensions: string[];
}

function choiceNames(name: string, suffixes: string[]): ChoiceNames {
  return { suffixes, props: suffixes.map((s) => name + s), extensions: suffixes.map((s) => `_${name}${s}`) };
}

/**
 * A choice element (`effective[x]`): like fhirpath.js, only the first suffix in the model's order that is
 * present on the item is used; with `only` (an index into the suffixes), that suffix must be the one asked
 * for (`ofType`).
 */
function collectChoice(items: unknown[], names: ChoiceNames, only: number | undefined): unknown[] {
  if (items.length === 1) return asCollection(choiceValue(items[0], names, only));
  const out: unknown[] = [];
  for (const item of items) push(out, choiceValue(item, names, only));
  return out;
}

function choiceValue(item: unknown, names: ChoiceNames, only: number | undefined): unknown {
  if (item === null || typeof item !== 'object') return undefined;
  const { props, extensions } = names;
  const record = item as Record<string, unknown>;
  let i = 0;
  while (i < props.length && record[props[i]!] === undefined && record[extensions[i]!] === undefined) i++;
  if (i === props.length || (only !== undefined && i !== only)) return undefined;
  if (record[extensions[i]!] !== undefined) fallback();
  return record[props[i]!];
}

/** One element's value as a collection, without copying: a JSON array is returned as it is (results are only read). */
function asCollection(v: unknown): unknown[] {
  if (v === undefined || v === null) return EMPTY;
  if (!Array.isArray(v)) return [v];
  for (const x of v) if (x === null || x === undefined) fallback(); // nulls align arrays with their extensions
  return v;
}

function push(out: unknown[], v: unknown): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) {
    out.push(v);
    return;
  }
  for (const x of v) {
    if (x === null || x === undefined) fallback(); // nulls align arrays with their extensions in FHIR JSON
    out.push(x);
  }
}

/**
 * fhirpath.js's deep equality of two plain JSON values (objEquiv: same keys, equal values; strings and
 * booleans by ===), where it is certain: undefined for numbers that differ (it compares them rounded), for
 * arrays against objects, and for objects with a `prototype` key.
 */
function jsonEquality(a: unknown, b: unknown): boolean | undefined {
  if (a === b) return true;
  const ta = typeof a;
  if (ta !== typeof b || a === null || b === null) return undefined;
  if (ta === 'string' || ta === 'boolean') return false;
  if (ta !== 'object' || Array.isArray(a) !== Array.isArray(b)) return undefined;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).sort();
  const kb = Object.keys(rb).sort();
  if (ka.includes('prototype') || kb.includes('prototype')) return undefined;
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  let result: boolean | undefined = true;
  for (const k of ka) {
    const eq = jsonEquality(ra[k], rb[k]);
    if (eq === false) return false;
    if (eq === undefined) result = undefined;
  }
  return result;
}

function isQuantity(type: string): boolean {
  for (let t: string | undefined = type, i = 0; t && i < 10; t = model.type2Parent[t], i++) if (t === 'Quantity') return true;
  return false;
}

/** The static type of a union: the type both sides share (an absent side is always empty), else unknown. */
function commonType(a: StaticType | undefined, b: StaticType | undefined): StaticType | undefined {
  if (a?.kind === 'absent') return b;
  if (b?.kind === 'absent') return a;
  if (a?.kind === 'path' && b?.kind === 'path' && a.path === b.path) return { kind: 'path', path: a.path };
  if (a?.kind === 'primitive' && b?.kind === 'primitive' && a.name === b.name) return a;
  return undefined;
}

function realType(t: StaticType | undefined): StaticType | undefined {
  return t?.kind === 'choice' ? undefined : t;
}

// ---- functions ---------------------------------------------------------------------------------------------

function params(node: AstNode): AstNode[] {
  const functn = node.children?.find((c) => c.type === 'Functn') ?? refuse();
  const list = functn.children?.find((c) => c.type === 'ParamList');
  return list?.children ?? [];
}

function fn(node: AstNode, input: Compiled, rootFocusType: StaticType | undefined): Compiled {
  const name = node.text ?? refuse();
  const ps = params(node);
  const inputFn = input.fn;
  const itemType = realType(input.type);
  const bool = (f: (items: unknown[]) => boolean): Compiled => ({ fn: (focus, env) => truth(f(inputFn(focus, env))), type: BOOLEAN });
  switch (name) {
    case 'ofType': {
      if (ps.length === 1 && input.type?.kind === 'absent') return { fn: (focus, env) => (inputFn(focus, env), EMPTY), type: ABSENT };
      if (ps.length !== 1 || input.type?.kind !== 'choice') refuse();
      const choice = input.type as Extract<StaticType, { kind: 'choice' }>;
      const wanted = (ps[0]!.text ?? refuse()).replace(/^FHIR\./, '');
      const suffixes = model.choiceTypePaths[choice.path]!;
      const index = suffixes.findIndex((s) => s.toLowerCase() === wanted.toLowerCase());
      const suffix = index >= 0 ? suffixes[index]! : refuse();
      const parent = choice.parentFn;
      const names = choiceNames(choice.member, suffixes);
      const typeName = PRIMITIVES.has(wanted) ? wanted : suffix;
      return {
        fn: (focus, env) => collectChoice(parent(focus, env), names, index),
        type: PRIMITIVES.has(typeName) ? { kind: 'primitive', name: typeName } : { kind: 'path', path: typeName, element: choice.member },
      };
    }
    case 'where': {
      if (ps.length !== 1) refuse();
      const crit = compileNode(ps[0]!, itemType);
      return {
        fn: (focus, env) =>
          inputFn(focus, env).filter((item) => {
            const r = crit.fn([item], env);
            if (r.length === 0) return false;
            if (r.length > 1 || typeof r[0] !== 'boolean') fallback();
            return r[0];
          }),
        type: input.type?.kind === 'choice' ? undefined : input.type,
      };
    }
    case 'select': {
      if (ps.length !== 1) refuse();
      const projection = compileNode(ps[0]!, itemType).fn;
      return {
        fn: (focus, env) => {
          const out: unknown[] = [];
          for (const item of inputFn(focus, env)) for (const v of projection([item], env)) out.push(v);
          return out;
        },
        type: undefined,
      };
    }
    case 'deref': {
      // The rule files' deref(): References resolved against the request's resources (fhirpath.ts). The target
      // type is taken from the element's name (medication → Medication); any other type found falls back.
      if (ps.length !== 0) refuse();
      const t = input.type;
      const target = t?.kind === 'path' && t.path === 'Reference' && t.element ? t.element.charAt(0).toUpperCase() + t.element.slice(1) : refuse();
      if (!isResourceType(target)) refuse();
      return {
        fn: (focus, env) => {
          const items = inputFn(focus, env);
          const pool = env[POOL_VAR];
          if (!pool) return EMPTY;
          if (!(pool instanceof Map)) return fallback();
          const out: unknown[] = [];
          for (const item of items) {
            const ref = (item as { reference?: unknown } | null | undefined)?.reference;
            if (typeof ref !== 'string') continue;
            if (ref.startsWith('#')) fallback(); // contained: fhirpath.js knows the containing resource
            const found: unknown = pool.get(referenceKey(ref));
            if (!found) continue;
            if ((found as { resourceType?: unknown }).resourceType !== target) fallback();
            out.push(found);
          }
          return out;
        },
        type: { kind: 'path', path: target, guessed: true },
      };
    }
    case 'lower': {
      if (ps.length !== 0) refuse();
      return {
        fn: (focus, env) => {
          const s = singleString(inputFn(focus, env));
          return s === undefined ? EMPTY : [s.toLowerCase()];
        },
        type: { kind: 'primitive', name: 'System.String' },
      };
    }
    case 'matches': {
      // Only a literal pattern, compiled once with fhirpath.js's flags (unicode, dotAll).
      if (ps.length !== 1) refuse();
      const re = literalRegExp(ps[0]!, 'us');
      return {
        fn: (focus, env) => {
          const s = singleString(inputFn(focus, env));
          if (s === undefined) return EMPTY;
          return truth(re.test(s));
        },
        type: BOOLEAN,
      };
    }
    case 'replaceMatches': {
      // Only literal pattern and substitution, the pattern compiled once with fhirpath.js's flags (global, unicode).
      if (ps.length !== 2) refuse();
      const re = literalRegExp(ps[0]!, 'gu');
      const substitution = stringLiteral(ps[1]!) ?? refuse();
      return {
        fn: (focus, env) => {
          const s = singleString(inputFn(focus, env));
          return s === undefined ? EMPTY : [s.replace(re, substitution)];
        },
        type: { kind: 'primitive', name: 'System.String' },
      };
    }
    case 'exists':
      if (ps.length === 0) return bool((items) => items.length > 0);
      if (ps.length === 1) {
        const where = fn({ ...node, text: 'where' }, input, rootFocusType).fn;
        return { fn: (focus, env) => truth(where(focus, env).length > 0), type: BOOLEAN };
      }
      return refuse();
    case 'empty':
      if (ps.length !== 0) refuse();
      return bool((items) => items.length === 0);
    case 'count':
      if (ps.length !== 0) refuse();
      return { fn: (focus, env) => [inputFn(focus, env).length], type: { kind: 'primitive', name: 'System.Integer' } };
    case 'first':
      if (ps.length !== 0) refuse();
      return { fn: (focus, env) => inputFn(focus, env).slice(0, 1), type: input.type?.kind === 'choice' ? undefined : input.type };
    case 'not':
      if (ps.length !== 0) refuse();
      return {
        fn: (focus, env) => {
          const r = inputFn(focus, env);
          if (r.length === 0) return EMPTY;
          if (r.length > 1 || typeof r[0] !== 'boolean') return fallback();
          return truth(!r[0]);
        },
        type: BOOLEAN,
      };
    case 'iif': {
      if (ps.length !== 3) refuse();
      const [c, a, b] = ps.map((p) => compileNode(p, rootFocusType)) as [Compiled, Compiled, Compiled];
      return {
        fn: (focus, env) => {
          const f = inputFn(focus, env);
          const r = c.fn(f, env);
          if (r.length > 1 || (r.length === 1 && typeof r[0] !== 'boolean')) fallback();
          return r[0] === true ? a.fn(f, env) : b.fn(f, env);
        },
        // Both branches of one type (two filters of `performer`): later steps can read its elements.
        type: commonType(realType(a.type), realType(b.type)),
      };
    }
    case 'inCodeSet': {
      if (ps.length !== 1) refuse();
      const set = compileNode(ps[0]!, rootFocusType);
      return {
        fn: (focus, env) => {
          const matcher = set.fn(focus, env).find((s): s is CodeSetMatcher => s instanceof CodeSetMatcher) ?? fallback();
          return truth(inputFn(focus, env).some((i) => matcher.matchesAny(i)));
        },
        type: BOOLEAN,
      };
    }
    default:
      return refuse();
  }
}

/** The one string of a collection (undefined when empty); anything else is left to fhirpath.js. */
function singleString(items: unknown[]): string | undefined {
  if (items.length === 0) return undefined;
  if (items.length > 1 || typeof items[0] !== 'string') fallback();
  return items[0] as string;
}

/** A string literal parameter compiled as a regular expression with `flags`; refused when it is not one. */
function literalRegExp(node: AstNode, flags: string): RegExp {
  const pattern = stringLiteral(node) ?? refuse();
  try {
    return new RegExp(pattern, flags);
  } catch {
    return refuse();
  }
}

/** The value of a string literal parameter (`'…'`), else undefined. */
export function stringLiteral(node: AstNode): string | undefined {
  let n: AstNode | undefined = node;
  while (n && (n.type === 'TermExpression' || n.type === 'LiteralTerm') && n.children?.length === 1) n = n.children[0];
  return n?.type === 'StringLiteral' && n.text ? unescapeString(n.text) : undefined;
}

function isResourceType(name: string): boolean {
  let t: string | undefined = name;
  for (let i = 0; t && i < 10; i++) {
    if (t === 'Resource') return true;
    t = model.type2Parent[t];
  }
  return false;
}

// ---- operators ---------------------------------------------------------------------------------------------

function plainComparable(t: StaticType | undefined): boolean {
  return t?.kind === 'primitive' && PLAIN_EQUALITY.has(t.name);
}

function single(items: unknown[]): unknown | undefined {
  if (items.length === 0) return undefined;
  if (items.length > 1) fallback();
  const v = items[0];
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') fallback();
  return v;
}

function equality(node: AstNode, focusType: StaticType | undefined): Compiled {
  const op = node.text;
  if (op !== '=' && op !== '!=') refuse();
  const a = compileNode(node.children![0]!, focusType);
  const b = compileNode(node.children![1]!, focusType);
  if (!plainComparable(a.type) || !plainComparable(b.type)) refuse();
  const equal = op === '=';
  const fixed = b.constant?.length === 1 ? b.constant[0] : undefined;
  if (typeof fixed === 'string' || typeof fixed === 'number' || typeof fixed === 'boolean') {
    // `system = 'http://loinc.org'`: the right side is read once, here.
    const left = a.fn;
    return {
      fn: (focus, env) => {
        const x = single(left(focus, env));
        if (x === undefined) return EMPTY;
        if (typeof x !== typeof fixed) fallback();
        return truth(equal ? x === fixed : x !== fixed);
      },
      type: BOOLEAN,
    };
  }
  return comparison(a, b, (x, y) => {
    if (typeof x !== typeof y) fallback();
    return equal ? x === y : x !== y;
  });
}

/** Two single values compared: empty when either side is empty; `compare` falls back where it cannot answer exactly. */
function comparison(a: Compiled, b: Compiled, compare: (x: unknown, y: unknown) => boolean): Compiled {
  return {
    fn: (focus, env) => {
      const x = single(a.fn(focus, env));
      if (x === undefined) return EMPTY;
      const y = single(b.fn(focus, env));
      if (y === undefined) return EMPTY;
      return truth(compare(x, y));
    },
    type: BOOLEAN,
  };
}

/** Orders of numbers only (`value.ofType(Quantity).value < 0`): strings, dates and quantities order by rules of their own. */
const NUMERIC = new Set(['integer', 'decimal', 'unsignedInt', 'positiveInt', 'System.Integer', 'System.Decimal']);
const ORDERS: Record<string, (x: number, y: number) => boolean> = {
  '<': (x, y) => x < y,
  '<=': (x, y) => x <= y,
  '>': (x, y) => x > y,
  '>=': (x, y) => x >= y,
};

function inequality(node: AstNode, focusType: StaticType | undefined): Compiled {
  const order = ORDERS[node.text ?? ''] ?? refuse();
  const a = compileNode(node.children![0]!, focusType);
  const b = compileNode(node.children![1]!, focusType);
  const numeric = (t: StaticType | undefined) => t?.kind === 'primitive' && NUMERIC.has(t.name);
  if (!numeric(a.type) || !numeric(b.type)) refuse();
  return comparison(a, b, (x, y) => (typeof x === 'number' && typeof y === 'number' ? order(x, y) : fallback()));
}

function membership(node: AstNode, focusType: StaticType | undefined): Compiled {
  if (node.text !== 'in') refuse();
  const a = compileNode(node.children![0]!, focusType);
  const b = compileNode(node.children![1]!, focusType);
  // An element the type does not define (`intent` of a MedicationStatement) is empty, so is `x in (…)`; the left
  // side still runs, for its fallback when the data has the element anyway.
  if (a.type?.kind === 'absent') return { fn: (focus, env) => (a.fn(focus, env), EMPTY), type: BOOLEAN };
  if (!plainComparable(a.type)) refuse();
  const fixed = b.constant;
  const fixedType = fixed && fixed.length > 0 && fixed.every((y) => typeof y === typeof fixed[0]) ? typeof fixed[0] : undefined;
  if (fixed && fixedType) {
    // `status in ('final' | 'amended')`: the list is built once, here.
    const left = a.fn;
    return {
      fn: (focus, env) => {
        const x = single(left(focus, env));
        if (x === undefined) return EMPTY;
        if (typeof x !== fixedType) fallback();
        return truth(fixed.includes(x));
      },
      type: BOOLEAN,
    };
  }
  return {
    fn: (focus, env) => {
      const x = single(a.fn(focus, env));
      if (x === undefined) return EMPTY;
      const list = b.fn(focus, env);
      for (const y of list) if (typeof y !== typeof x) fallback();
      return truth(list.includes(x));
    },
    type: BOOLEAN,
  };
}

/** FHIRPath three-valued logic; operands must be empty or a single boolean. */
function logic(node: AstNode, focusType: StaticType | undefined): Compiled {
  const isAnd = node.type === 'AndExpression';
  if (node.text !== (isAnd ? 'and' : 'or')) refuse();
  const a = compileNode(node.children![0]!, focusType).fn;
  const b = compileNode(node.children![1]!, focusType).fn;
  const truth = (items: unknown[]): boolean | undefined => {
    if (items.length === 0) return undefined;
    if (items.length > 1 || typeof items[0] !== 'boolean') return fallback();
    return items[0];
  };
  return {
    fn: (focus, env) => {
      // Both operands are evaluated, as fhirpath.js does (an error on either side surfaces either way).
      const x = truth(a(focus, env));
      const y = truth(b(focus, env));
      if (isAnd) return x === false || y === false ? FALSE : x === true && y === true ? TRUE : EMPTY;
      return x === true || y === true ? TRUE : x === false && y === false ? FALSE : EMPTY;
    },
    type: BOOLEAN,
  };
}
