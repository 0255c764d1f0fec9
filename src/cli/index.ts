/**
 * `il6-cds` command line. Each command lives in its own module under `commands/` and registers itself on
 * the program; this file only lists them.
 */
import { Command } from 'commander';
import { commands } from './commands';

const program = new Command('il6-cds').description('IL-6 CDS Hooks service: run it, test rules, talk to FHIR servers').showHelpAfterError();
for (const register of commands) register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`il6-cds: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = typeof (err as { exitCode?: unknown }).exitCode === 'number' ? (err as { exitCode: number }).exitCode : 1;
});
