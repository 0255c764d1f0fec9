/**
 * `il6-cds feedback-summary`: what clinicians did with the cards, per finding code, rule-set version and
 * profile, read from the same store as the service (DATABASE_URL, else the SQLite file under DATA_DIR).
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { parseRange } from '../../feedback/parse';
import { formatSummary } from '../../feedback/report';
import { isOperationOutcomeError } from '../../outcomes';
import type { CdsService } from '../../services/registry';

export interface FeedbackSummaryOptions {
  from?: string;
  to?: string;
  service?: string;
  json?: boolean;
}

export async function feedbackSummaryReport(opts: FeedbackSummaryOptions, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const config = loadConfig(env);
  let range;
  try {
    range = parseRange(opts.from, opts.to);
  } catch (err) {
    if (isOperationOutcomeError(err)) throw new Error(err.message.replace(/"(from|to)"/g, '--$1'));
    throw err;
  }
  // The store, the rule engine and the feedback router load only when this command runs: every other
  // `il6-cds` command would otherwise pay their start-up (~1 s).
  const { openStore } = await import('../../store');
  const { loadServices } = await import('../../services/registry');
  const { withReasonDisplays } = await import('../../feedback/router');
  // Only an existing store: a wrong DATA_DIR would otherwise get a new, empty one and an empty report.
  const store = await openStore(config, undefined, { mustExist: true });
  let summary;
  try {
    summary = await store.summary({ ...(opts.service ? { serviceId: opts.service } : {}), ...range });
  } finally {
    await store.close();
  }
  // Reason displays the clients left out come from the services' rule files, when they load.
  let services: CdsService[] = [];
  try {
    services = loadServices(config.servicesDir, { profile: config.rulesProfile }).services;
  } catch {
    // the report is still right without displays
  }
  withReasonDisplays(summary, services);
  return opts.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary);
}

export function registerFeedbackSummary(program: Command): void {
  program
    .command('feedback-summary')
    .description('cards issued, accepted, overridden (by reason) and the acceptance rate, per finding code and rule-set version')
    .option('--from <date>', 'cards issued from this day (YYYY-MM-DD, UTC) or RFC 3339 date-time, inclusive')
    .option('--to <date>', 'cards issued up to this day (inclusive) or before this RFC 3339 date-time')
    .option('--service <id>', 'one CDS service (default: all)')
    .option('--json', 'print the summary as JSON (the shape of GET /cds-services/{id}/feedback/summary)')
    .action(async (opts: FeedbackSummaryOptions) => {
      process.stdout.write(await feedbackSummaryReport(opts));
    });
}
