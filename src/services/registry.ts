/**
 * The CDS services this deployment offers: one folder per service under the services directory, holding
 *   - `discovery.json`: the discovery entry exactly as served (id, hook, title, description, prefetch);
 *   - `rules.yaml`: the rule file the engine evaluates.
 * Everything is loaded and validated at start-up; a broken file stops start-up with a {@link ServiceLoadError}
 * naming the file, the field and the reason.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CdsServiceDefinition } from '../cds-hooks/types';
import { schemaIssues } from '../cds-hooks/validation';
import { loadRuleFile, RuleFileError, type RuleProblem } from '../engine/load';
import type { RuleSet } from '../engine/model';
import { templateTokens, tokenProblem } from '../prefetch/template';

/**
 * A service folder that cannot be used: its discovery entry or its rule file (`file`), with every problem found
 * in it (`rule` is the field at fault in a discovery entry), one line each in the message, as for a rule file.
 */
export class ServiceLoadError extends RuleFileError {
  constructor(file: string, field: string, reason: string, more: readonly RuleProblem[] = []) {
    super(file, field, reason, more);
    this.name = 'ServiceLoadError';
  }
}

export interface CdsService {
  id: string;
  definition: CdsServiceDefinition;
  dir: string;
  ruleSet: RuleSet;
  /** The threshold profile in use: the configured one when the rule file defines it, else `default`. */
  profile: string;
}

export class ServiceRegistry {
  private readonly byId: Map<string, CdsService>;

  constructor(readonly services: CdsService[]) {
    this.byId = new Map(services.map((s) => [s.id, s]));
  }

  get(id: string): CdsService | undefined {
    return this.byId.get(id);
  }

  /** The discovery document's `services`, in a stable order. */
  definitions(): CdsServiceDefinition[] {
    return this.services.map((s) => s.definition);
  }
}

export interface LoadServicesOptions {
  profile: string;
  /** Told which services do not define the configured profile and use `default` instead. */
  onProfileFallback?: (serviceId: string, profile: string) => void;
}

export function loadServices(dir: string, opts: LoadServicesOptions): ServiceRegistry {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ServiceLoadError(dir, '(directory)', 'the CDS services directory does not exist');
  }
  const services: CdsService[] = [];
  for (const name of readdirSync(dir).sort()) {
    const serviceDir = path.join(dir, name);
    if (!statSync(serviceDir).isDirectory()) continue;
    services.push(loadService(serviceDir, name, opts));
  }
  return new ServiceRegistry(services);
}

/** One service folder (`discovery.json` and `rules.yaml`), checked like at start-up; throws a ServiceLoadError. */
export function loadService(dir: string, folder: string, opts: LoadServicesOptions): CdsService {
  const file = path.join(dir, 'discovery.json');
  if (!existsSync(file)) throw new ServiceLoadError(file, '(file)', 'missing: every service folder needs a discovery.json');
  let definition: unknown;
  try {
    definition = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ServiceLoadError(file, '(json)', (err as Error).message);
  }
  const problems: RuleProblem[] = schemaIssues('serviceDefinition', definition).map((i) => ({ rule: i.expression ?? '(entry)', reason: i.diagnostics }));
  const def = definition as CdsServiceDefinition;
  if (problems.length === 0) {
    if (def.id !== folder) problems.push({ rule: 'id', reason: `"${def.id}" must equal the folder name "${folder}"` });
    for (const [key, template] of Object.entries(def.prefetch ?? {})) {
      const problem = templateTokens(template).map(tokenProblem).find((p) => p !== undefined);
      if (problem) problems.push({ rule: `prefetch.${key}`, reason: problem });
      else if (/^[a-z]+:\/\//i.test(template) || template.startsWith('/')) {
        problems.push({ rule: `prefetch.${key}`, reason: 'a prefetch template is a relative FHIR query such as "Observation?patient={{context.patientId}}"' });
      }
    }
  }
  if (problems.length > 0) throw ServiceLoadError.of(file, problems);
  const rulesFile = path.join(dir, 'rules.yaml');
  let ruleSet: RuleSet;
  try {
    ruleSet = loadRuleFile(rulesFile);
  } catch (err) {
    if (err instanceof RuleFileError) throw ServiceLoadError.of(err.file, err.problems);
    throw err;
  }
  if (ruleSet.id !== def.id) throw new ServiceLoadError(rulesFile, 'id', `"${ruleSet.id}" must equal the service id "${def.id}"`);
  let profile = opts.profile;
  if (!Object.hasOwn(ruleSet.profiles, profile)) {
    opts.onProfileFallback?.(def.id, profile);
    profile = 'default';
  }
  return { id: def.id, definition: def, dir, ruleSet, profile };
}
