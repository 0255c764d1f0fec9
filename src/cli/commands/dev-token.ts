/**
 * `il6-cds dev-token`: prints a CDS Hooks client JWT signed by the local development issuer, for calling a
 * service by hand:
 *
 *   curl -H "Authorization: Bearer $(npx il6-cds dev-token)" localhost:8080/cds-services
 *
 * The audience must be the exact URL called (default: discovery at http://localhost:8080). The token is
 * accepted once (replay protection) by a service in development or test mode without TRUSTED_ISSUERS_FILE.
 */
import type { Command } from 'commander';
import { signDevToken } from '../../auth';
import { SETTINGS } from '../../config';

export function registerDevToken(program: Command): void {
  program
    .command('dev-token')
    .description('print a client JWT from the local development issuer (development/test services only; one use each)')
    .option('--aud <url>', 'the exact URL the token is for', 'http://localhost:8080/cds-services')
    .option('--expires-in <seconds>', 'lifetime in seconds (a service refuses more than its JWT_MAX_LIFETIME_SECONDS, default 600)', '300')
    .action(async (opts: { aud: string; expiresIn: string }) => {
      const expiresIn = Number(opts.expiresIn);
      if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 3600) throw new Error('--expires-in must be a whole number of seconds between 1 and 3600');
      if (expiresIn > SETTINGS.jwtMaxLifetimeSeconds.default) {
        process.stderr.write(`il6-cds dev-token: a service with the default JWT_MAX_LIFETIME_SECONDS (${SETTINGS.jwtMaxLifetimeSeconds.default}) refuses a token valid for ${expiresIn} s; raise that setting on the service to use it.\n`);
      }
      process.stdout.write(`${await signDevToken({ aud: opts.aud, expiresIn })}\n`);
    });
}
