/**
 * Runs the test FHIR server until SIGINT/SIGTERM:
 *   node dist/src/test-fhir-server/main.js [--port 8081] [--host 127.0.0.1] [--require-token TOKEN]
 * Environment: PORT, HOST, FHIR_REQUIRE_TOKEN (flags win).
 */
import { startTestFhirServer, type TestFhirServer } from './index';

export interface MainOptions {
  port: number;
  host: string;
  requireToken?: string;
}

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): MainOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--(port|host|require-token)(?:=(.*))?$/.exec(arg);
    if (!match) {
      throw new Error(`Unknown argument: ${arg}`);
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined) {
      throw new Error(`--${match[1]} needs a value`);
    }
    flags.set(match[1] ?? '', value);
  }
  const portText = flags.get('port') ?? env.PORT ?? '8081';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`Invalid port: ${portText}`);
  }
  const requireToken = flags.get('require-token') ?? env.FHIR_REQUIRE_TOKEN;
  return { port, host: flags.get('host') ?? env.HOST ?? '127.0.0.1', ...(requireToken ? { requireToken } : {}) };
}

/** Starts the server and stops it on SIGINT/SIGTERM. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<TestFhirServer> {
  const server = await startTestFhirServer(parseArgs(argv, env));
  const shutdown = (): void => {
    process.off('SIGINT', shutdown);
    process.off('SIGTERM', shutdown);
    void server.stop();
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  process.stdout.write(`FHIR R4 test server listening at ${server.baseUrl}\n`);
  return server;
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
