/** `il6-cds serve`: runs the service, like `npm start`. */
import type { Command } from 'commander';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the CDS service (configuration from the environment; see README)')
    .action(() => {
      require('../../main');
    });
}
