/**
 * Checklist items 40–44: how the target routes and refuses bad calls. Each call carries a valid token and, apart
 * from the one thing wrong with it, the same body as a valid call (full prefetch), so the refusal can only be
 * about that thing.
 */
import { randomUUID } from 'node:crypto';
import { serviceCheck, targetCheck, Unavailable, type CheckDef, type ServiceUnderTest, type SuiteContext } from './context';
import { isOperationOutcome, saw } from './http';
import { Findings } from './types';

async function validBody(ctx: SuiteContext, svc: ServiceUnderTest): Promise<Record<string, unknown>> {
  const [main] = await ctx.mainCalls(svc);
  return { ...structuredClone(main!.request), hookInstance: randomUUID() };
}

async function expect400(ctx: SuiteContext, svc: ServiceUnderTest, f: Findings, what: string, body: unknown, needOutcome = false): Promise<void> {
  const x = await ctx.call('POST', svc.url, { label: `${what}`, body });
  if (f.expect(x.status === 400, `${what} → ${saw(x)}`) && needOutcome) f.expect(isOperationOutcome(x.json), `${what} → 400, but the body is not an OperationOutcome: ${saw(x)}`);
}

export const errorChecks: CheckDef[] = [
  targetCheck(40, async (ctx) => {
    const url = `${ctx.discoveryUrl}/conformance-no-such-service-${randomUUID().slice(0, 8)}`;
    const body = { hook: 'patient-view', hookInstance: randomUUID(), context: ctx.context('conformance-p1') };
    const x = await ctx.call('POST', url, { label: 'item 40: unknown service', body });
    if ((x.status === 401 || x.status === 403) && !(await ctx.trusted())) throw new Unavailable(`the target does not accept the suite's tokens (item 1: HTTP ${(await ctx.discovery()).exchange.status}): POST ${url} → HTTP ${x.status}`);
    const f = new Findings();
    f.expect(x.status === 404, `POST ${url} → ${saw(x)}`);
    return f.outcome();
  }),
  serviceCheck(41, async (ctx, svc) => {
    const f = new Findings();
    const other = svc.hook === 'order-sign' ? 'order-select' : 'order-sign';
    await expect400(ctx, svc, f, `item 41: hook "${other}" sent to a ${svc.hook} service`, { ...(await validBody(ctx, svc)), hook: other }, true);
    return f.outcome();
  }),
  serviceCheck(42, async (ctx, svc) => {
    const f = new Findings();
    await expect400(ctx, svc, f, 'item 42: a body that is not JSON', '{"hook": "patient-view",');
    const without = async (what: string, change: (b: Record<string, unknown>) => void) => {
      const b = await validBody(ctx, svc);
      change(b);
      await expect400(ctx, svc, f, `item 42: no ${what}`, b);
    };
    await without('hook', (b) => delete b.hook);
    await without('hookInstance', (b) => delete b.hookInstance);
    await without('context', (b) => delete b.context);
    await without('context.patientId', (b) => delete (b.context as Record<string, unknown>).patientId);
    await without('context.userId', (b) => delete (b.context as Record<string, unknown>).userId);
    return f.outcome();
  }),
  serviceCheck(43, async (ctx, svc) => {
    const f = new Findings();
    for (const userId of ['practitioner-1', 'Device/1', 'Practitioner/']) {
      const b = await validBody(ctx, svc);
      (b.context as Record<string, unknown>).userId = userId;
      await expect400(ctx, svc, f, `item 43: context.userId "${userId}"`, b);
    }
    return f.outcome();
  }),
  serviceCheck(44, async (ctx, svc) => {
    const f = new Findings();
    const b = await validBody(ctx, svc);
    delete b.fhirServer;
    b.fhirAuthorization = { access_token: `conformance-${randomUUID()}`, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'il6-cds-conformance' };
    await expect400(ctx, svc, f, 'item 44: fhirAuthorization without fhirServer', b);
    return f.outcome();
  }),
];
