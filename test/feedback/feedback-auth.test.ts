/**
 * Feedback and its summary sit under /cds-services, so the client authentication of every /cds-services route
 * covers them (the sandbox signs feedback with aud = <service URL>/feedback).
 */
import { randomUUID } from 'node:crypto';
import { signDevToken } from '../../src/auth';
import { startTestService } from '../support/service';
import { sqliteBackend } from './backends';
import { getSummary, postFeedback, sandboxOverride, SERVICE } from './helpers';

describe('feedback over HTTP with authentication required (the /cds-services middleware covers both routes)', () => {
  it('no token → 401 on feedback and summary; a trusted client JWT with the exact URL as aud → 200', async () => {
    const loc = sqliteBackend.create();
    const server = await startTestService({ config: { ...loc.config, auth: 'required' } });
    try {
      const feedbackUrl = `${server.url}/cds-services/${SERVICE}/feedback`;
      expect((await postFeedback(server.url, sandboxOverride(randomUUID()))).status).toBe(401);
      expect((await getSummary(server.url)).status).toBe(401);
      expect(await server.store.listFeedback()).toEqual([]);
      const bearer = async (aud: string) => ({ authorization: `Bearer ${await signDevToken({ aud })}` });
      expect((await postFeedback(server.url, sandboxOverride(randomUUID()), SERVICE, await bearer(feedbackUrl))).status).toBe(200);
      const summary = await getSummary(server.url, '', SERVICE, await bearer(`${feedbackUrl}/summary`));
      expect(summary.status).toBe(200);
      expect(summary.summary.unknownCardFeedback).toBe(1);
    } finally {
      await server.close();
      await loc.cleanup();
    }
  });
});
