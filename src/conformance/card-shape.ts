/**
 * Checklist items 25–39: the shape of every card the valid calls returned, one explicit check per item so each
 * failure names its item and the card it saw. (The project's own response schema is deliberately not the judge
 * here: a conformance suite must not trust the implementation's reading of the spec.)
 */
import { emptyValues, preview, serviceCheck, type CheckDef, type ServiceUnderTest, type SuiteContext } from './context';
import { Findings, skip, type Outcome } from './types';

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const INDICATORS = ['info', 'warning', 'critical'];
const ACTIONS = ['create', 'update', 'delete'];
const LINK_TYPES = ['absolute', 'smart'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An absolute URL: a scheme, and parseable. */
export function isAbsoluteUrl(v: unknown): boolean {
  if (typeof v !== 'string' || !/^[a-z][a-z0-9+.-]*:/i.test(v)) return false;
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

interface CardAt {
  at: string;
  card: Obj;
}

/** Every card object of every response, with where it was. */
async function cardsOf(ctx: SuiteContext, svc: ServiceUnderTest): Promise<CardAt[] | Outcome> {
  const responses = await ctx.responses(svc);
  if (responses.length === 0) return skip('no valid call answered 200 (item 13)');
  const out: CardAt[] = [];
  for (const { where, body } of responses) {
    if (!Array.isArray(body.cards)) continue;
    body.cards.forEach((c, i) => out.push({ at: `${where}: cards[${i}]`, card: isObject(c) ? c : { __notAnObject: c } }));
  }
  if (out.length === 0) return skip('the valid calls returned no cards, so there is no card to check (give --patient with data the service has guidance for)');
  return out;
}

/** A card-shape check over every card; `each` records problems, `vacuous` notes when nothing relevant was seen. */
function cardCheck(item: number, each: (c: CardAt, f: Findings) => boolean | void, vacuous?: string): CheckDef {
  return serviceCheck(item, async (ctx, svc) => {
    const cards = await cardsOf(ctx, svc);
    if (!Array.isArray(cards)) return cards;
    const f = new Findings();
    let relevant = 0;
    for (const c of cards) if (each(c, f) !== false) relevant++;
    if (relevant === 0 && vacuous) f.note(`nothing to check: ${vacuous}`);
    if (item === 25) f.note(`${cards.length} card${cards.length === 1 ? '' : 's'} from the valid calls looked at (items 25–37)`);
    return f.outcome();
  });
}

const suggestionsOf = (card: Obj): unknown[] => (Array.isArray(card.suggestions) ? card.suggestions : []);
const actionsOf = (s: unknown): unknown[] => (isObject(s) && Array.isArray(s.actions) ? s.actions : []);
const linksOf = (card: Obj): unknown[] => (Array.isArray(card.links) ? card.links : []);

export const cardShapeChecks: CheckDef[] = [
  cardCheck(25, ({ at, card }, f) => {
    const s = card.summary;
    if (!f.expect(typeof s === 'string' && s.trim() !== '', `${at}.summary is ${preview(s)}`)) return;
    const length = [...(s as string)].length;
    f.expect(length < 140, `${at}.summary has ${length} characters (must be under 140): ${preview(s, 60)}`);
  }),
  cardCheck(26, ({ at, card }, f) => {
    f.expect(INDICATORS.includes(card.indicator as string), `${at}.indicator is ${preview(card.indicator)}`);
  }),
  cardCheck(27, ({ at, card }, f) => {
    const src = card.source;
    if (!f.expect(isObject(src), `${at}.source is ${preview(src)}`)) return;
    const s = src as Obj;
    f.expect(nonEmptyString(s.label), `${at}.source.label is ${preview(s.label)}`);
    for (const k of ['url', 'icon']) if (s[k] !== undefined) f.expect(isAbsoluteUrl(s[k]), `${at}.source.${k} is ${preview(s[k])}, not an absolute URL`);
  }),
  cardCheck(28, ({ at, card }, f) => {
    const topic = isObject(card.source) ? card.source.topic : undefined;
    if (!f.expect(isObject(topic), `${at}.source.topic is ${topic === undefined ? 'missing' : preview(topic)}`)) return;
    f.expect(nonEmptyString((topic as Obj).code) && nonEmptyString((topic as Obj).system), `${at}.source.topic lacks code or system: ${preview(topic)}`);
  }),
  cardCheck(
    29,
    ({ at, card }, f) => {
      if (card.detail === undefined) return false;
      f.expect(nonEmptyString(card.detail), `${at}.detail is ${preview(card.detail)}`);
    },
    'no card has a detail',
  ),
  cardCheck(30, ({ at, card }, f) => {
    if (card.selectionBehavior !== undefined) f.expect(['at-most-one', 'any'].includes(card.selectionBehavior as string), `${at}.selectionBehavior is ${preview(card.selectionBehavior)}`);
    if (card.suggestions === undefined) return;
    f.expect(card.selectionBehavior !== undefined, `${at} has ${suggestionsOf(card).length} suggestion(s) but no selectionBehavior`);
  }),
  cardCheck(
    31,
    ({ at, card }, f) => {
      if (card.selectionBehavior !== 'at-most-one') return false;
      const recommended = suggestionsOf(card).filter((s) => isObject(s) && s.isRecommended === true).length;
      f.expect(recommended <= 1, `${at} is at-most-one with ${recommended} suggestions isRecommended: true`);
    },
    'no card uses selectionBehavior at-most-one',
  ),
  cardCheck(
    32,
    ({ at, card }, f) => {
      if (card.suggestions === undefined) return false;
      if (!f.expect(Array.isArray(card.suggestions), `${at}.suggestions is ${preview(card.suggestions)}, not an array`)) return;
      suggestionsOf(card).forEach((s, i) => {
        const sat = `${at}.suggestions[${i}]`;
        if (!f.expect(isObject(s), `${sat} is not an object`)) return;
        f.expect(nonEmptyString((s as Obj).label), `${sat}.label is ${preview((s as Obj).label)}`);
        const rec = (s as Obj).isRecommended;
        if (rec !== undefined) f.expect(typeof rec === 'boolean', `${sat}.isRecommended is ${preview(rec)}, not a boolean`);
      });
    },
    'no card has suggestions',
  ),
  cardCheck(
    33,
    ({ at, card }, f) => {
      let n = 0;
      suggestionsOf(card).forEach((s, i) => {
        if (isObject(s) && s.actions !== undefined && !Array.isArray(s.actions)) f.fail(`${at}.suggestions[${i}].actions is ${preview(s.actions)}, not an array`);
        actionsOf(s).forEach((a, j) => {
          n++;
          const aat = `${at}.suggestions[${i}].actions[${j}]`;
          if (!f.expect(isObject(a), `${aat} is not an object`)) return;
          f.expect(ACTIONS.includes((a as Obj).type as string), `${aat}.type is ${preview((a as Obj).type)}`);
          f.expect(nonEmptyString((a as Obj).description), `${aat}.description is ${preview((a as Obj).description)}`);
        });
      });
      return n > 0;
    },
    'no suggestion has actions',
  ),
  cardCheck(
    34,
    ({ at, card }, f) => {
      let n = 0;
      suggestionsOf(card).forEach((s, i) =>
        actionsOf(s).forEach((a, j) => {
          if (!isObject(a)) return;
          n++;
          const aat = `${at}.suggestions[${i}].actions[${j}]`;
          if (a.type === 'create' || a.type === 'update') {
            const r = a.resource;
            f.expect(isObject(r) && typeof r.resourceType === 'string' && /^[A-Z][A-Za-z]+$/.test(r.resourceType) && Object.keys(r).length > 1, `${aat} (${a.type}) resource is ${preview(r)}, not a FHIR resource`);
          }
          if (a.type === 'delete') f.expect(typeof a.resourceId === 'string' && /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(a.resourceId), `${aat} (delete) resourceId is ${preview(a.resourceId)}, not Type/id`);
        }),
      );
      return n > 0;
    },
    'no suggestion has actions',
  ),
  cardCheck(
    35,
    ({ at, card }, f) => {
      if (card.overrideReasons === undefined) return false;
      if (!f.expect(Array.isArray(card.overrideReasons), `${at}.overrideReasons is ${preview(card.overrideReasons)}, not an array`)) return;
      (card.overrideReasons as unknown[]).forEach((r, i) => {
        const ok = isObject(r) && nonEmptyString(r.code) && nonEmptyString(r.system) && nonEmptyString(r.display);
        f.expect(ok, `${at}.overrideReasons[${i}] lacks code, system or display: ${preview(r)}`);
      });
    },
    'no card has overrideReasons',
  ),
  cardCheck(
    36,
    ({ at, card }, f) => {
      if (card.links === undefined) return false;
      if (!f.expect(Array.isArray(card.links), `${at}.links is ${preview(card.links)}, not an array`)) return;
      linksOf(card).forEach((l, i) => {
        const lat = `${at}.links[${i}]`;
        if (!f.expect(isObject(l), `${lat} is not an object`)) return;
        const link = l as Obj;
        f.expect(nonEmptyString(link.label), `${lat}.label is ${preview(link.label)}`);
        f.expect(isAbsoluteUrl(link.url), `${lat}.url is ${preview(link.url)}, not an absolute URL`);
        f.expect(LINK_TYPES.includes(link.type as string), `${lat}.type is ${preview(link.type)}`);
      });
    },
    'no card has links',
  ),
  cardCheck(
    37,
    ({ at, card }, f) => {
      const links = linksOf(card).filter(isObject);
      if (links.length === 0) return false;
      links.forEach((l, i) => f.expect(!(l.type === 'absolute' && l.appContext !== undefined), `${at}.links[${i}] is absolute but carries appContext ${preview(l.appContext)}`));
    },
    'no card has links',
  ),
  serviceCheck(38, async (ctx, svc) => {
    const f = new Findings();
    const ids = (calls: Awaited<ReturnType<SuiteContext['mainCalls']>>) => {
      const out: { at: string; uuid: unknown }[] = [];
      for (const c of calls) {
        const cards = (c.exchange.json as { cards?: unknown } | undefined)?.cards;
        if (c.exchange.status !== 200 || !Array.isArray(cards)) continue;
        cards.forEach((card, i) => {
          if (!isObject(card)) return;
          out.push({ at: `patient ${c.patient}: cards[${i}]`, uuid: card.uuid });
          suggestionsOf(card).forEach((s, j) => out.push({ at: `patient ${c.patient}: cards[${i}].suggestions[${j}]`, uuid: isObject(s) ? s.uuid : undefined }));
        });
      }
      return out;
    };
    const first = ids(await ctx.mainCalls(svc));
    const second = ids(await ctx.secondCalls(svc));
    if (first.length === 0) return skip('the valid calls returned no cards (item 14)');
    for (const { at, uuid } of [...first, ...second]) f.expect(nonEmptyString(uuid), `${at} has no uuid`);
    const a = first.map((x) => x.uuid).filter(nonEmptyString);
    const b = new Set(second.map((x) => x.uuid).filter(nonEmptyString));
    f.expect(new Set(a).size === a.length, 'the same uuid appears twice within one call');
    const reused = a.filter((u) => b.has(u));
    f.expect(reused.length === 0, () => `${reused.length} uuid(s) came back unchanged on a second call, e.g. ${reused[0]}`);
    if (a.length > 0 && !a.every((u) => UUID.test(u))) f.note('some uuids are not in UUID format');
    return f.outcome();
  }),
  serviceCheck(39, async (ctx, svc) => {
    const responses = await ctx.responses(svc);
    if (responses.length === 0) return skip('no valid call answered 200 (item 13)');
    const f = new Findings();
    for (const { where, body } of responses) {
      // `cards: []` is how "no guidance" is said; every other empty value is out.
      for (const p of emptyValues(body).filter((x) => x !== '$.cards is []')) f.fail(`${where}: ${p}`);
    }
    return f.outcome();
  }),
];
