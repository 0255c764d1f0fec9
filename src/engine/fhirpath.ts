/**
 * FHIRPath for the rule files: every expression is compiled once, with the FHIR R4 model, at start-up, and
 * evaluated per request. Two functions are added to the language:
 *   - `deref()`: resolves References against the resources of the current request (medicationReference →
 *     Medication; relative, absolute or versioned) or, for `#id`, the resource's `contained` ones, so rules
 *     can read what a reference points to;
 *   - `inCodeSet(%set)`: true when any input Coding or CodeableConcept has a code of the set (`code-sets.ts`).
 * fhirpath.js only reports unknown functions and variables when it evaluates them; `checkExpression` finds
 * them at load time so a typo stops start-up instead of failing a hook call.
 */
import * as fhirpath from 'fhirpath';
import type { UserInvocationTable } from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import type { FhirResource } from 'fhir/r4';
import { CodeSetMatcher } from './code-sets';
import { compileFast, Fallback, parseFhirPath, POOL_VAR, stringLiteral, unknownElements, type AstNode, type FastFn } from './fhirpath-fast';
import { referenceKey } from './references';

export type Compiled = (resource: unknown, env: Record<string, unknown>) => unknown[];

/** Environment variable through which `deref()` sees the request's resources. */
export { POOL_VAR };

/** Unwraps fhirpath.js's internal ResourceNode to the plain JSON value it holds. */
function plain(node: unknown): unknown {
  return node && typeof node === 'object' && 'data' in node && 'path' in node ? (node as { data: unknown }).data : node;
}

interface EvalContext {
  vars: Record<string, unknown>;
  /** The resource the expression is evaluated on. */
  dataRoot?: unknown;
}

/** The resource a node belongs to: its top-most ancestor (a resource read through deref() is its own top). */
function containerOf(node: unknown, fallback: unknown): unknown {
  let n = node as { parentResNode?: unknown } | null;
  if (!n || typeof n !== 'object' || !('parentResNode' in n)) return plain(fallback);
  while ((n as { parentResNode?: unknown }).parentResNode) n = (n as { parentResNode: { parentResNode?: unknown } }).parentResNode;
  return plain(n);
}

/** A contained resource by id (`#id` references resolve inside the resource that holds them). */
function containedIn(container: unknown, id: string): FhirResource | undefined {
  const contained = (container as { contained?: unknown } | null)?.contained;
  if (!Array.isArray(contained)) return undefined;
  return contained.find((c): c is FhirResource => !!c && typeof c === 'object' && (c as { id?: unknown }).id === id);
}

const userInvocationTable: UserInvocationTable = {
  deref: {
    internalStructures: true,
    arity: { 0: [] },
    fn(this: EvalContext, inputs: unknown[]): unknown[] {
      const pool = this.vars[POOL_VAR] as Map<string, FhirResource> | undefined;
      if (!pool) return [];
      const out: unknown[] = [];
      for (const input of inputs) {
        const ref = (plain(input) as { reference?: unknown } | undefined)?.reference;
        if (typeof ref !== 'string') continue;
        const target = ref.startsWith('#') ? containedIn(containerOf(input, this.dataRoot), ref.slice(1)) : pool.get(referenceKey(ref));
        if (target) out.push(target);
      }
      return out;
    },
  },
  inCodeSet: {
    internalStructures: true,
    arity: { 1: ['AnyAtRoot'] },
    fn(this: EvalContext, inputs: unknown[], set: unknown[]): boolean[] {
      const matcher = set.map(plain).find((s): s is CodeSetMatcher => s instanceof CodeSetMatcher);
      if (!matcher) throw new Error('inCodeSet() needs a code set, e.g. inCodeSet(%acuteIllness)');
      return [inputs.some((i) => matcher.matchesAny(plain(i)))];
    },
  },
};

/**
 * Compiles `expression` for the R4 model with the rule-file functions. Throws on syntax errors.
 * Per resource type, the expression is also compiled to a plain closure where `fhirpath-fast.ts` can; the
 * closure answers, or defers to fhirpath.js for any input it does not reproduce exactly.
 */
export function compileFhirPath(expression: string): Compiled {
  // fhirpath.js compiles (parses again) only when first needed: most expressions never leave the fast path.
  let slow: ReturnType<typeof fhirpath.compile> | undefined;
  const evaluateSlow = (resource: unknown, env: Record<string, unknown>) => (slow ??= fhirpath.compile(expression, r4Model, { userInvocationTable }))(resource, env) as unknown[];
  const fastByType = new Map<string, FastFn | null>();
  // Most expressions only ever see one resource type: remember the last one instead of a map lookup per call.
  let lastType: string | undefined;
  let lastFast: FastFn | null = null;
  return (resource, env) => {
    const type = (resource as { resourceType?: unknown } | null)?.resourceType;
    if (typeof type !== 'string') return evaluateSlow(resource, env);
    let fast = type === lastType ? lastFast : fastByType.get(type);
    if (fast === undefined) {
      fast = compileFast(expression, type) ?? null;
      fastByType.set(type, fast);
    }
    lastType = type;
    lastFast = fast;
    if (fast) {
      try {
        return fast(resource, env);
      } catch (err) {
        if (!(err instanceof Fallback)) throw err;
      }
    }
    return evaluateSlow(resource, env);
  };
}

/** fhirpath.js alone, without the compiled fast path (for the equivalence tests). */
export function compileFhirPathInterpreted(expression: string): Compiled {
  const slow = fhirpath.compile(expression, r4Model, { userInvocationTable });
  return (resource, env) => slow(resource, env) as unknown[];
}

/** Variables fhirpath.js itself defines. */
const BUILT_IN_VARS = new Set(['ucum', 'context', 'resource', 'rootResource', 'sct', 'loinc', 'factory', 'terminologies']);

/**
 * Problems fhirpath.js would only report when evaluating: functions that do not exist and `%variables`
 * that are not defined. Returns a reason, or undefined when the expression is sound.
 */
export function checkExpression(expression: string, knownVars: ReadonlySet<string>): string | undefined {
  let ast: unknown;
  try {
    ast = parseFhirPath(expression);
  } catch (err) {
    return `FHIRPath syntax error: ${(err as Error).message}`;
  }
  const problems: string[] = [];
  walk(ast, (node) => {
    if (node.type === 'Functn') {
      const name = node.children?.find((c) => c.type === 'Identifier')?.text;
      if (name && !functionExists(name)) problems.push(`unknown FHIRPath function ${name}()`);
      // fhirpath.js compiles a pattern only when evaluating: a broken one would fail on every resource, unseen.
      if (name === 'matches' || name === 'replaceMatches') {
        const param = node.children?.find((c) => c.type === 'ParamList')?.children?.[0];
        const pattern = param && stringLiteral(param);
        if (pattern !== undefined) {
          try {
            new RegExp(pattern, 'u');
          } catch (err) {
            problems.push(`invalid regular expression in ${name}(): ${(err as Error).message}`);
          }
        }
      }
    }
    if (node.type === 'ExternalConstantTerm' || node.type === 'ExternalConstant') {
      const name = (node.text ?? '').replace(/^%`?|`$/g, '');
      if (name && !knownVars.has(name) && !BUILT_IN_VARS.has(name) && !name.startsWith('vs-') && !name.startsWith('ext-')) {
        problems.push(`unknown variable %${name}`);
      }
    }
  });
  return problems.length > 0 ? [...new Set(problems)].join('; ') : undefined;
}

/**
 * Element names that are not elements in FHIR R4 for any of `resourceTypes` the expression is read on
 * (`statuss`, `valueQuantity` written `valueQuanity`): such a path is empty on every valid resource, so the
 * rule would silently never match. A name missing on only some of the types is fine (one expression shared
 * by MedicationRequest and MedicationStatement reads `intent`, which only the first has). Returns a reason,
 * or undefined when no name is known to be wrong (the check follows types only as far as the compiled subset).
 */
export function checkElements(expression: string, resourceTypes: readonly string[]): string | undefined {
  let missing: Map<string, string> | undefined;
  for (const type of resourceTypes) {
    const absent = unknownElements(expression, type);
    const here = new Map(absent.map((a) => [a.name, a.type]));
    missing = missing ? new Map([...missing].filter(([name]) => here.has(name))) : here;
  }
  if (!missing || missing.size === 0) return undefined;
  return [...missing].map(([name, type]) => `"${name}" is not an element of ${type} in FHIR R4`).join('; ');
}

function walk(node: unknown, visit: (n: AstNode) => void): void {
  if (!node || typeof node !== 'object') return;
  const n = node as AstNode;
  if (typeof n.type === 'string') visit(n);
  for (const c of n.children ?? []) walk(c, visit);
}

const knownFunctions = new Map<string, boolean>();

function functionExists(name: string): boolean {
  if (name in userInvocationTable) return true;
  let known = knownFunctions.get(name);
  if (known === undefined) {
    // fhirpath.js has no public list of its functions: call the function with no arguments. Unknown ones
    // throw "Not implemented"; known ones run or complain about arity through console.warn (silenced here).
    const warn = console.warn;
    console.warn = () => undefined;
    try {
      fhirpath.evaluate({}, `{}.${name}()`);
      known = true;
    } catch (err) {
      known = !/Not implemented/.test((err as Error).message);
    } finally {
      console.warn = warn;
    }
    knownFunctions.set(name, known);
  }
  return known;
}

export { CodeSetMatcher };
