/**
 * FHIRPath for the rule files: every expression is compiled once, with the FHIR R4 model, at start-up, and
 * evaluated per request. Two functions are added to the language:
 *   - `deref()`: resolves References against the resources of the current request (medicationReference →
 *     Medication), so rules can read what a reference points to;
 *   - `inCodeSet(%set)`: true when any input Coding or CodeableConcept has a code of the set (exact codes and
 *     code prefixes for hierarchical systems such as ICD-10-CM).
 * fhirpath.js only reports unknown functions and variables when it evaluates them; `checkExpression` finds
 * them at load time so a typo stops start-up instead of failing a hook call.
 */
import * as fhirpath from 'fhirpath';
import type { UserInvocationTable } from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import type { FhirResource } from 'fhir/r4';
import type { CodeEntry } from './rule-file';

export type Compiled = (resource: unknown, env: Record<string, unknown>) => unknown[];

/** Environment variable through which `deref()` sees the request's resources. */
export const POOL_VAR = '__pool';

export class CodeSetMatcher {
  private readonly exact = new Set<string>();
  private readonly prefixes = new Map<string, string[]>();

  constructor(
    readonly name: string,
    entries: CodeEntry[],
  ) {
    for (const e of entries) {
      if (e.code !== undefined) this.exact.add(`${e.system}|${e.code}`);
      if (e.prefix !== undefined) {
        const list = this.prefixes.get(e.system) ?? [];
        list.push(e.prefix);
        this.prefixes.set(e.system, list);
      }
    }
  }

  has(system: unknown, code: unknown): boolean {
    if (typeof system !== 'string' || typeof code !== 'string') return false;
    if (this.exact.has(`${system}|${code}`)) return true;
    return this.prefixes.get(system)?.some((p) => code.startsWith(p)) ?? false;
  }

  /** Codings of a Coding, a CodeableConcept, or a list of either. */
  static codings(value: unknown): { system?: unknown; code?: unknown }[] {
    if (Array.isArray(value)) return value.flatMap((v) => CodeSetMatcher.codings(v));
    if (!value || typeof value !== 'object') return [];
    const v = value as { coding?: unknown; system?: unknown; code?: unknown };
    if (Array.isArray(v.coding)) return v.coding as { system?: unknown; code?: unknown }[];
    return 'code' in v ? [v] : [];
  }

  matchesAny(value: unknown): boolean {
    return CodeSetMatcher.codings(value).some((c) => this.has(c.system, c.code));
  }
}

/** Unwraps fhirpath.js's internal ResourceNode to the plain JSON value it holds. */
function plain(node: unknown): unknown {
  return node && typeof node === 'object' && 'data' in node && 'path' in node ? (node as { data: unknown }).data : node;
}

interface EvalContext {
  vars: Record<string, unknown>;
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
        const target = pool.get(ref.replace(/^.*\/([A-Z][A-Za-z]+\/[^/]+)$/, '$1'));
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

/** Compiles `expression` for the R4 model with the rule-file functions. Throws on syntax errors. */
export function compileFhirPath(expression: string): Compiled {
  const fn = fhirpath.compile(expression, r4Model, { userInvocationTable });
  return (resource, env) => fn(resource, env) as unknown[];
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
    ast = fhirpath.parse(expression);
  } catch (err) {
    return `FHIRPath syntax error: ${(err as Error).message}`;
  }
  const problems: string[] = [];
  walk(ast, (node) => {
    if (node.type === 'Functn') {
      const name = node.children?.find((c) => c.type === 'Identifier')?.text;
      if (name && !functionExists(name)) problems.push(`unknown FHIRPath function ${name}()`);
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

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
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
