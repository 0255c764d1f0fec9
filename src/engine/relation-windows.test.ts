/**
 * Relations find the candidates in each subject's window through CandidateWindows (binary search, and a tree
 * of latest ends for intervals). It must give exactly what testing every candidate gives, in the same order:
 * random candidates with equal times, ends before starts, missing ends, ongoing ones, and windows anywhere.
 */
import { CandidateWindows } from './evaluate';
import type { Item } from './model';

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function candidates(rnd: () => number, n: number): Item[] {
  const items: Item[] = [];
  for (let i = 0; i < n; i++) {
    const time = Math.floor(rnd() * 1000) * 10; // many equal times
    const r = rnd();
    const item = { fact: 'f', resource: { resourceType: 'Observation', id: `o${i}` }, ref: `Observation/o${i}`, time, ongoing: r < 0.05 } as Item;
    if (r > 0.3) item.end = time + Math.floor((rnd() - 0.1) * 2000); // some end before they start
    items.push(item);
  }
  return items.sort((a, b) => a.time! - b.time! || (a.ref < b.ref ? -1 : 1));
}

it('finds exactly the candidates testing every one finds, in the same order', () => {
  const rnd = random(42);
  let checked = 0;
  for (const n of [0, 1, 2, 3, 7, 8, 9, 100, 1000]) {
    const items = candidates(rnd, n);
    const windows = new CandidateWindows(items);
    for (let q = 0; q < 200; q++) {
      const lo = Math.floor(rnd() * 12000) - 1000;
      const hi = lo + Math.floor(rnd() * 3000) - 200; // sometimes hi < lo
      const time: Item[] = [];
      const interval: Item[] = [];
      windows.startingIn(lo, hi, time);
      windows.overlapping(lo, hi, interval);
      expect(time).toEqual(items.filter((c) => c.time! >= lo && c.time! <= hi));
      expect(interval).toEqual(items.filter((c) => c.time! <= hi && (c.ongoing ? Infinity : (c.end ?? c.time!)) >= lo));
      checked++;
    }
  }
  expect(checked).toBe(1800);
});
