/**
 * A named code set of a rule file: exact codes, and code prefixes for hierarchical systems such as
 * ICD-10-CM (`S` covers S00–S99). Used by fact pre-selection and by the FHIRPath function `inCodeSet`.
 */
import type { CodeEntry } from './rule-file';

export class CodeSetMatcher {
  /** system → codes (nested maps: no string building on the hot path). */
  readonly exact = new Map<string, Set<string>>();
  readonly prefixes = new Map<string, string[]>();

  constructor(
    readonly name: string,
    entries: CodeEntry[],
  ) {
    for (const e of entries) {
      if (e.code !== undefined) {
        let codes = this.exact.get(e.system);
        if (!codes) this.exact.set(e.system, (codes = new Set()));
        codes.add(e.code);
      }
      if (e.prefix !== undefined) {
        const list = this.prefixes.get(e.system) ?? [];
        list.push(e.prefix);
        this.prefixes.set(e.system, list);
      }
    }
  }

  has(system: unknown, code: unknown): boolean {
    if (typeof system !== 'string' || typeof code !== 'string') return false;
    if (this.exact.get(system)?.has(code)) return true;
    return this.prefixes.get(system)?.some((p) => code.startsWith(p)) ?? false;
  }

  /** Codings of a Coding, a CodeableConcept, or a list of either. */
  static codings(value: unknown): { system?: unknown; code?: unknown }[] {
    if (!Array.isArray(value)) return codingsOf(value, []);
    const out: { system?: unknown; code?: unknown }[] = [];
    for (const v of value) codingsOf(v, out);
    return out;
  }

  matchesAny(value: unknown): boolean {
    return CodeSetMatcher.codings(value).some((c) => this.has(c.system, c.code));
  }
}

/** Adds the codings of a Coding, a CodeableConcept or a list of either to `out`. */
function codingsOf(value: unknown, out: { system?: unknown; code?: unknown }[]): { system?: unknown; code?: unknown }[] {
  if (Array.isArray(value)) {
    for (const v of value) codingsOf(v, out);
    return out;
  }
  if (!value || typeof value !== 'object') return out;
  const v = value as { coding?: unknown; system?: unknown; code?: unknown };
  if (Array.isArray(v.coding)) for (const c of v.coding as { system?: unknown; code?: unknown }[]) out.push(c);
  else if ('code' in v) out.push(v);
  return out;
}

/**
 * Which facts a coding selects, for all facts that pre-select by the same code path: built once at load
 * time, so a request looks each coding up once instead of testing every fact's code sets.
 */
export class CodeIndex {
  private readonly exact = new Map<string, Map<string, string[]>>();
  private readonly prefixes = new Map<string, { prefix: string; fact: string }[]>();

  add(fact: string, set: CodeSetMatcher): void {
    for (const [system, codes] of set.exact) {
      let bySystem = this.exact.get(system);
      if (!bySystem) this.exact.set(system, (bySystem = new Map()));
      for (const code of codes) {
        const facts = bySystem.get(code) ?? [];
        if (!facts.includes(fact)) facts.push(fact);
        bySystem.set(code, facts);
      }
    }
    for (const [system, list] of set.prefixes) {
      const entries = this.prefixes.get(system) ?? [];
      for (const prefix of list) entries.push({ prefix, fact });
      this.prefixes.set(system, entries);
    }
  }

  /** Calls `found` for each fact the coding selects (a fact may be reported more than once). */
  factsFor(system: unknown, code: unknown, found: (fact: string) => void): void {
    if (typeof system !== 'string' || typeof code !== 'string') return;
    const facts = this.exact.get(system)?.get(code);
    if (facts) for (const f of facts) found(f);
    const prefixes = this.prefixes.get(system);
    if (prefixes) for (const p of prefixes) if (code.startsWith(p.prefix)) found(p.fact);
  }
}
