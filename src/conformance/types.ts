/**
 * Shapes shared by the conformance suite's modules: checklist items, check definitions and their results.
 *
 * The suite is black-box: it talks HTTP to the target and never imports the service's internals. The only
 * project code it uses is the development issuer's key files (the default signing key), the in-memory test FHIR
 * server and the fixture patients (the default data source) — tools, not the implementation under test.
 */

/** The checklist's tags: [S] the spec's SHALL/MUST, [R] SHOULD/best practice, [I] the project's choice where the spec is silent. */
export type Tag = 'S' | 'R' | 'I';

export type Section = 'discovery' | 'invocation' | 'card-shape' | 'errors' | 'security' | 'feedback';

export type Status = 'PASS' | 'FAIL' | 'SKIP';

export interface ChecklistItem {
  item: number;
  tag: Tag;
  section: Section;
  /** One line, our own words. */
  title: string;
}

/** What one check concluded. `details` say what it saw (always on FAIL, the reason on SKIP); `notes` are remarks on a PASS. */
export interface Outcome {
  status: Status;
  details: string[];
  notes: string[];
}

export interface CheckResult extends ChecklistItem {
  status: Status;
  /** The CDS service the check was run on (absent for checks of the whole target: discovery, CORS on discovery …). */
  service?: string;
  details: string[];
  notes: string[];
  ms: number;
}

export const pass = (...notes: string[]): Outcome => ({ status: 'PASS', details: [], notes });
export const fail = (...details: string[]): Outcome => ({ status: 'FAIL', details, notes: [] });
export const skip = (reason: string): Outcome => ({ status: 'SKIP', details: [reason], notes: [] });

/**
 * Collects problems while a check looks at many things; `outcome()` is FAIL with every problem seen (capped), or
 * PASS with the notes.
 */
export class Findings {
  readonly problems: string[] = [];
  readonly notes: string[] = [];
  private dropped = 0;

  fail(problem: string): void {
    if (this.problems.length < 12) this.problems.push(problem);
    else this.dropped++;
  }

  note(note: string): void {
    if (!this.notes.includes(note)) this.notes.push(note);
  }

  /** Records `problem` unless `ok`; returns `ok`. */
  expect(ok: boolean, problem: string | (() => string)): boolean {
    if (!ok) this.fail(typeof problem === 'function' ? problem() : problem);
    return ok;
  }

  get failed(): boolean {
    return this.problems.length > 0;
  }

  outcome(): Outcome {
    if (!this.failed) return { status: 'PASS', details: [], notes: this.notes };
    const details = [...this.problems];
    if (this.dropped > 0) details.push(`… and ${this.dropped} more`);
    return { status: 'FAIL', details, notes: this.notes };
  }
}
