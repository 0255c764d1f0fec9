/** `il6-cds fhir-server`: a local FHIR R4 server (medplum in memory) for trying rules without HAPI. */
import type { Command } from 'commander';
import { startTestFhirServer } from '../../test-fhir-server';

export function registerFhirServer(program: Command): void {
  program
    .command('fhir-server')
    .description('run an in-memory FHIR R4 server (for `load` and `fire` without a HAPI server)')
    .option('--port <port>', 'TCP port', '8081')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--require-token <token>', 'answer 401 unless this Bearer token is sent')
    .action(async (opts: { port: string; host: string; requireToken?: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: "${opts.port}" is not a port number`);
      const server = await startTestFhirServer({ port, host: opts.host, requireToken: opts.requireToken });
      process.stdout.write(`FHIR R4 server listening at ${server.baseUrl}\n`);
      const stop = () => void server.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
