import { cachedConversions, cachedUnitChecks, convert, UNIT_CACHE_MAX, unitProblem } from './units';

describe('UCUM conversion', () => {
  it.each([
    [5, 'ng/L', 'pg/mL', 5],
    [0.0051, 'ng/mL', 'pg/mL', 5.1],
    [1, 'mg/dL', 'mg/L', 10],
    [100.4, '[degF]', 'Cel', 38],
    [99.9, '[degF]', 'Cel', 37.7222222222],
    [90, 'min', 'h', 1.5],
    [12, 'm[IU]/L', 'u[IU]/mL', 12],
  ])('%p %s → %s = %p', (value, from, to, expected) => {
    const r = convert(value, from, to);
    expect('value' in r && r.value).toBeCloseTo(expected, 6);
  });

  it('returns the same value for identical units, including arbitrary ones', () => {
    expect(convert(7, 'u[IU]/mL', 'u[IU]/mL')).toEqual({ value: 7 });
  });

  it.each([
    ['IU/mL', 'pg/mL'],
    ['xyz', 'pg/mL'],
    ['mg/L', 'Cel'],
    ['[IU]/mL', 'pg/mL'],
  ])('refuses %s → %s with a reason instead of guessing', (from, to) => {
    const r = convert(1, from, to);
    expect(r).toEqual({ error: expect.any(String) });
  });

  it('refuses a unit of thousands of characters without parsing it (ucum-lhc takes seconds on one)', () => {
    expect(convert(5, `${'g.'.repeat(20_000)}g`, 'pg/mL')).toEqual({ error: 'a unit longer than 64 characters is not read' });
    expect(convert(5, 'pg/mL', 'x'.repeat(65))).toEqual({ error: 'a unit longer than 64 characters is not read' });
  });

  it('gives the same answer from the cache as on first use', () => {
    const first = convert(3.3, 'ng/mL', 'pg/mL');
    const second = convert(3.3, 'ng/mL', 'pg/mL');
    expect(second).toEqual(first);
    expect(first).toEqual({ value: 3300 });
  });

  it('writes nothing to the console for a unit the library cannot parse (it would echo request data)', () => {
    const log = jest.spyOn(console, 'log');
    try {
      expect(convert(1, '()cQ)', 'pg/mL')).toEqual({ error: expect.any(String) });
      expect(log).not.toHaveBeenCalled();
    } finally {
      log.mockRestore();
    }
  });

  it('keeps at most UNIT_CACHE_MAX unit pairs, however many distinct units arrive', () => {
    for (let i = 0; i < UNIT_CACHE_MAX + 200; i++) convert(1, `${i + 1}.ng/mL`, 'pg/mL');
    expect(cachedConversions()).toBe(UNIT_CACHE_MAX);
    expect(convert(2, '1.ng/mL', 'pg/mL')).toEqual({ value: 2000 }); // evicted, recomputed the same
  });

  it('remembers whether a unit is UCUM for at most UNIT_CACHE_MAX units, and answers the same from memory', () => {
    expect(unitProblem('pgg')).toMatch(/pgg/);
    expect(unitProblem('pgg')).toMatch(/pgg/);
    expect(unitProblem('ng/mL')).toBeUndefined();
    for (let i = 0; i < UNIT_CACHE_MAX + 200; i++) unitProblem(`${i + 1}.ng/mL`);
    expect(cachedUnitChecks()).toBe(UNIT_CACHE_MAX);
    expect(unitProblem('pgg')).toMatch(/pgg/); // evicted, recomputed the same
  });
});
