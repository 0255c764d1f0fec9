import vm from 'node:vm';
import { bandOf, formatMeasured, formatMeasuredAndReported, formatNumber, isAbove, isAtLeast, normaliseQuantity, parseValueString, passes, type Band, type Measured } from './quantity';

const m = (value: number, comparator?: Measured['comparator']): Measured => ({ value, comparator, unit: 'pg/mL', reported: '' });
/** A `>X` value of a fact that reads it as "at least X" (the IL-6 fact, clinical-rules.md §1). */
const gtAtLeast = (value: number): Measured => ({ ...m(value, '>'), greaterThanAtLeast: true });

describe('comparator values are never treated as exact', () => {
  it.each([
    // value, comparator, threshold, above, atLeast
    [3.01, undefined, 3.0, true, true],
    [3.0, undefined, 3.0, false, true],
    // >3.0 is above 3.0; >=3.0 cannot be shown above it.
    [3.0, '>', 3.0, true, true],
    [3.0, '>=', 3.0, false, true],
    [5.5, '>', 3.0, true, true],
    [1.5, '<', 1.5, false, false],
    [5, '<', 1.5, false, false],
    [5, '<=', 3.0, false, false],
  ] as const)('%p%s vs %p: above=%p atLeast=%p', (value, comparator, x, above, atLeast) => {
    expect(isAbove(m(value, comparator), x)).toBe(above);
    expect(isAtLeast(m(value, comparator), x)).toBe(atLeast);
  });

  it('a fact reading ">X" as "at least X" (clinical-rules.md §1 for IL-6): >3.0 cannot be shown above 3.0', () => {
    expect(isAbove(gtAtLeast(3.0), 3.0)).toBe(false);
    expect(isAtLeast(gtAtLeast(3.0), 3.0)).toBe(true);
    expect(isAbove(gtAtLeast(3.5), 3.0)).toBe(true);
    // Nor is it at most 3.0: it may be any value from 3.0 up.
    expect(passes(gtAtLeast(3), { atMost: 3 })).toBe(false);
  });

  it('a fact reading ">X" as above X (the default; hs-CRP ">10 mg/L" is above 10)', () => {
    expect(passes(m(10, '>'), { above: 10 })).toBe(true);
    expect(passes(m(10, '>'), { above: 3, atMost: 10 })).toBe(false);
    // hs-CRP ">=10" may be any value from 10 up: not shown to be at most 10 (il6-measure's "≤ 10 mg/L").
    expect(passes(m(10, '>='), { above: 3, atMost: 10 })).toBe(false);
    const read = (greaterThan?: 'above' | 'atLeast') =>
      normaliseQuantity({ value: 10, comparator: '>', unit: 'mg/L', system: 'http://unitsofmeasure.org', code: 'mg/L' }, 'mg/L', { greaterThan });
    expect(read()).toMatchObject({ measured: { value: 10, comparator: '>' } });
    expect(read()).not.toMatchObject({ measured: { greaterThanAtLeast: true } });
    expect(read('atLeast')).toMatchObject({ measured: { value: 10, comparator: '>', greaterThanAtLeast: true } });
  });

  it('"at most" and "below" also hold only for every value allowed: "<5" is neither above 3 nor at most 3', () => {
    expect(passes(m(5, '<'), { atMost: 3 })).toBe(false);
    expect(passes(m(5, '<'), { above: 3 })).toBe(false);
    expect(passes(m(3, '<'), { atMost: 3 })).toBe(true);
    expect(passes(m(3, '<='), { atMost: 3 })).toBe(true);
    expect(passes(m(0.3, '<'), { atMost: 3 })).toBe(true);
    expect(passes(m(7, '<'), { below: 6 })).toBe(false);
    expect(passes(m(6, '<'), { below: 6 })).toBe(true);
    expect(passes(m(6, '<='), { below: 6 })).toBe(false);
    expect(passes(m(3, '>'), { atMost: 3 })).toBe(false);
    expect(passes(m(3.5, '>'), { atMost: 3 })).toBe(false);
    expect(passes(m(5.9), { below: 6 })).toBe(true);
    expect(passes(m(6.0), { below: 6 })).toBe(false);
    expect(passes(m(3.2), { above: 3, atMost: 10 })).toBe(true);
  });

  it('"side of" holds when the value is certainly above the limit or certainly at most it', () => {
    expect(passes(m(5, '<'), { sideOf: 3 })).toBe(false);
    expect(passes(m(3, '<'), { sideOf: 3 })).toBe(true);
    expect(passes(m(3, '>'), { sideOf: 3 })).toBe(true);
    expect(passes(m(2, '>'), { sideOf: 3 })).toBe(false);
    expect(passes(m(3), { sideOf: 3 })).toBe(true);
    expect(passes(m(6.5), { sideOf: 3 })).toBe(true);
  });

  it('"not above" holds for every value that cannot be shown to be above the limit', () => {
    expect(passes(m(2.5, '>='), { notAbove: 3 })).toBe(true);
    expect(passes(m(2.5, '>'), { notAbove: 3 })).toBe(true);
    expect(passes(m(3, '>'), { notAbove: 3 })).toBe(false);
    expect(passes(m(3), { notAbove: 3 })).toBe(true);
    expect(passes(m(3.01), { notAbove: 3 })).toBe(false);
    expect(passes(m(5, '<'), { notAbove: 3 })).toBe(true);
  });
});

describe('bands (tiers)', () => {
  const tiers: Band[] = [{ name: 'optimal', below: 1.5 }, { name: 'mild', atMost: 3 }, { name: 'elevated', atMost: 7 }, { name: 'significant' }];
  it.each([
    [1.49, undefined, 'optimal'],
    [1.5, undefined, 'mild'],
    [3.0, undefined, 'mild'],
    [3.01, undefined, 'elevated'],
    [7.0, undefined, 'elevated'],
    [7.01, undefined, 'significant'],
    [1.5, '<', 'optimal'],
    [5, '<', 'optimal–elevated'],
    // The values just below 3.0 are mild (the band holds up to and including 3.0).
    [3, '<', 'optimal–mild'],
    [3, '<=', 'optimal–mild'],
    [7, '<', 'optimal–elevated'],
    [7, '>', 'significant'],
    [7.5, '>', 'significant'],
    [3, '>', 'elevated–significant'],
    [1.5, '>', 'mild–significant'],
    [3, '>=', 'mild–significant'],
  ] as const)('%p%s → %s', (value, comparator, band) => {
    expect(bandOf(m(value, comparator), tiers)).toBe(band);
  });

  it('">X" read as "at least X" (IL-6) takes the band of X itself', () => {
    expect(bandOf(gtAtLeast(7), tiers)).toBe('elevated–significant');
    expect(bandOf(gtAtLeast(3), tiers)).toBe('mild–significant');
  });
});

describe('reading quantities', () => {
  it('normalises units and keeps what was reported', () => {
    expect(normaliseQuantity({ value: 0.0051, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' }, 'pg/mL')).toEqual({
      measured: { value: 5.1, unit: 'pg/mL', comparator: undefined, reported: '0.0051 ng/mL', converted: true },
    });
  });
  it.each([
    [{ value: 4.2 }, /has no unit/],
    [{ value: 12, unit: 'IU/mL', system: 'http://unitsofmeasure.org', code: '[IU]/mL' }, /unit IU\/mL cannot be converted to pg\/mL/],
    [{ unit: 'pg/mL' }, /no numeric value/],
    // finite as given, infinite once converted: never "IL-6 Infinity pg/mL" on a card
    [{ value: 1e308, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' }, /value 1e\+308 ng\/mL is out of range in pg\/mL/],
    [{ value: 5, unit: '10*308.pg/mL', system: 'http://unitsofmeasure.org', code: '10*308.pg/mL' }, /is out of range in pg\/mL/],
  ])('refuses %j with a reason', (q, reason) => {
    const r = normaliseQuantity(q, 'pg/mL');
    expect('problem' in r && r.problem).toMatch(reason);
  });
  it('reads a unit as the fact says it means for this test (insulin: mU/L is mIU/L), in the code or the text, as reported unchanged', () => {
    const readAs = new Map([['mU/L', 'm[IU]/L'], ['µU/mL', 'u[IU]/mL']]);
    const coded = { value: 14, unit: 'mU/L', system: 'http://unitsofmeasure.org', code: 'mU/L' };
    expect(normaliseQuantity(coded, 'u[IU]/mL', { readAs })).toEqual({ measured: { value: 14, unit: 'u[IU]/mL', reported: '14 mU/L' } });
    expect(normaliseQuantity({ value: 14, unit: 'µU/mL' }, 'u[IU]/mL', { readAs })).toEqual({ measured: { value: 14, unit: 'u[IU]/mL', reported: '14 µU/mL' } });
    expect(normaliseQuantity({ ...coded, unit: 'µU/mL' }, 'u[IU]/mL', { readAs })).toMatchObject({ measured: { value: 14 } });
    // Without the reading, UCUM's U is the enzyme unit, which is no international unit.
    expect(normaliseQuantity(coded, 'u[IU]/mL')).toEqual({ problem: 'unit mU/L cannot be converted to u[IU]/mL' });
    expect(normaliseQuantity({ value: 84, unit: 'pmol/L' }, 'u[IU]/mL', { readAs })).toEqual({ problem: 'unit pmol/L cannot be converted to u[IU]/mL' });
    // A unit text that says otherwise than the code is a disagreement, not display text: mIU/mL is a thousand times µIU/mL.
    expect(normaliseQuantity({ ...coded, unit: 'mIU/mL', code: 'uU/mL' }, 'u[IU]/mL', { readAs: new Map([['uU/mL', 'u[IU]/mL']]) })).toEqual({ problem: 'unit mIU/mL and its UCUM code uU/mL disagree' });
    expect(normaliseQuantity({ ...coded, unit: 'mIU/mL', code: 'u[IU]/mL' }, 'u[IU]/mL')).toEqual({ problem: 'unit mIU/mL and its UCUM code u[IU]/mL disagree' });
  });

  it('reads only the accepted units when a fact lists them, even ones UCUM could convert', () => {
    const accepted = new Set(['pg/mL', 'ng/L', 'ng/mL']);
    const q = (unit: string) => ({ value: 2, unit, system: 'http://unitsofmeasure.org', code: unit });
    expect(normaliseQuantity(q('ng/mL'), 'pg/mL', { units: accepted })).toMatchObject({ measured: { value: 2000 } });
    expect(normaliseQuantity(q('ug/L'), 'pg/mL')).toMatchObject({ measured: { value: 2000 } });
    const r = normaliseQuantity(q('ug/L'), 'pg/mL', { units: accepted });
    expect('problem' in r && r.problem).toBe('unit ug/L is not one the rules read (pg/mL, ng/L, ng/mL)');
  });
  it.each([
    ['<1.5', undefined, { comparator: '<', value: 1.5, unit: undefined }],
    ['<= 1.5 pg/mL', undefined, { comparator: '<=', value: 1.5, unit: 'pg/mL' }],
    ['>5000', 'pg/mL', { comparator: '>', value: 5000, unit: 'pg/mL' }],
    ['4.7', 'pg/mL', { comparator: undefined, value: 4.7, unit: 'pg/mL' }],
  ])('parses the value string %p', (text, fallback, want) => {
    expect(parseValueString(text, fallback)).toMatchObject(want);
  });
  it('reads a value string with spaces around it', () => {
    expect(parseValueString('  < 1.5 pg/mL  ', undefined)).toMatchObject({ comparator: '<', value: 1.5, unit: 'pg/mL' });
  });
  it('rejects value strings that are not a number', () => {
    expect(parseValueString('detected', 'pg/mL')).toBeUndefined();
  });
  it('rejects a long run of spaces at once (the old pattern backtracked for 16 s on 150,000 of them, blocking the service)', () => {
    // vm's watchdog interrupts even a running regular expression: a relapse fails here instead of hanging.
    const bounded = <T>(fn: () => T): T => vm.runInNewContext('fn()', { fn }, { timeout: 2000 }) as T;
    expect(bounded(() => parseValueString(`${' '.repeat(150_000)}x`, 'pg/mL'))).toBeUndefined();
    expect(bounded(() => parseValueString(`<${' '.repeat(150_000)}1.5`, 'pg/mL'))).toBeUndefined();
    expect(parseValueString(`1.5 ${'x'.repeat(100)}`, 'pg/mL')).toBeUndefined();
  });
  it('prints at most 4 significant digits', () => {
    expect([5.1, 5000, 37.72222, 0.00512, 10].map(formatNumber)).toEqual(['5.1', '5000', '37.72', '0.00512', '10']);
  });
});

describe('a unit and a UCUM code that disagree', () => {
  const q = (unit: string, code: string, value = 12) => ({ value, unit, code, system: 'http://unitsofmeasure.org' });
  it('excludes the value when both are UCUM units of different size, naming both', () => {
    expect(normaliseQuantity(q('pg/mL', 'ng/mL'), 'pg/mL')).toEqual({ problem: 'unit pg/mL and its UCUM code ng/mL disagree' });
    expect(normaliseQuantity(q('ng/mL', 'pg/mL', 0.012), 'pg/mL')).toEqual({ problem: 'unit ng/mL and its UCUM code pg/mL disagree' });
    expect(normaliseQuantity(q('mmol/L', 'pg/mL'), 'pg/mL')).toEqual({ problem: 'unit mmol/L and its UCUM code pg/mL disagree' });
  });
  it('reads the code when the unit is display text or the same unit spelled otherwise', () => {
    expect(normaliseQuantity(q('pg/ml', 'pg/mL'), 'pg/mL')).toMatchObject({ measured: { value: 12 } });
    expect(normaliseQuantity(q('°C', 'Cel', 38.5), 'Cel')).toMatchObject({ measured: { value: 38.5 } });
    expect(normaliseQuantity(q('hours', 'h', 5), 'h')).toMatchObject({ measured: { value: 5 } });
    expect(normaliseQuantity(q('mg/dl', 'mg/dL', 1), 'mg/L')).toMatchObject({ measured: { value: 10 } });
  });
});

describe('unit text without a UCUM code', () => {
  const q = (value: number, unit: string) => ({ value, unit });
  it.each([
    [38.2, '°C', 'Cel', 38.2],
    [38.2, '℃', 'Cel', 38.2],
    [101, '°F', 'Cel', 38.3333333333],
    [101, 'degF', 'Cel', 38.3333333333],
    [45, 'mins', 'min', 45],
    [5, 'Hours', 'h', 5],
    [5, 'hrs', 'h', 5],
    [12, 'uIU/mL', 'u[IU]/mL', 12],
    [12, 'µIU/mL', 'u[IU]/mL', 12],
    [12, 'mIU/L', 'u[IU]/mL', 12],
    [31, 'kg/m^2', 'kg/m2', 31],
    [40, 'in', 'cm', 101.6],
  ])('%p %s is read as UCUM (%s)', (value, unit, target, expected) => {
    const r = normaliseQuantity(q(value, unit), target);
    expect('measured' in r && r.measured.value).toBeCloseTo(expected, 6);
  });
  it('guesses no unit with more than one meaning: F is the farad, IU/mL names no international unit', () => {
    expect(normaliseQuantity(q(101, 'F'), 'Cel')).toEqual({ problem: 'unit F cannot be converted to Cel' });
    expect(normaliseQuantity(q(12, 'IU/mL'), 'u[IU]/mL')).toEqual({ problem: 'unit IU/mL cannot be converted to u[IU]/mL' });
  });
});

describe('values as cards show them', () => {
  const cel = (value: number, reported: string, converted?: boolean): Measured => ({ value, unit: 'Cel', reported, ...(converted ? { converted } : {}) });
  it('writes UCUM codes that people do not write as the unit people write, and an annotation-only unit as nothing', () => {
    expect(formatMeasured(cel(38.6, '38.6 Cel'))).toBe('38.6 °C');
    expect(formatMeasured({ value: 12, unit: 'u[IU]/mL', reported: '' })).toBe('12 µIU/mL');
    expect(formatMeasured({ value: 28, unit: '{score}', reported: '' })).toBe('28');
    expect(formatMeasured(m(5.1, '<'))).toBe('<5.1 pg/mL');
  });
  it('adds the value as reported when normalising changed the number (clinical-rules §5: value, unit as reported, normalised value)', () => {
    expect(formatMeasuredAndReported(cel(38, '100.4 [degF]', true))).toBe('38 °C (reported 100.4 [degF])');
    expect(formatMeasuredAndReported(cel(38.6, '38.6 Cel'))).toBe('38.6 °C');
    const r = normaliseQuantity({ value: 0.0051, unit: 'ng/mL' }, 'pg/mL');
    expect('measured' in r && formatMeasuredAndReported(r.measured)).toBe('5.1 pg/mL (reported 0.0051 ng/mL)');
  });
});

describe('a spelled unit that disagrees with its UCUM code', () => {
  const q = (value: number, unit: string, code: string) => ({ value, unit, code, system: 'http://unitsofmeasure.org' });
  it.each([
    [38.6, '°C', '[degF]', 'Cel'],
    [100.6, '°F', 'Cel', 'Cel'],
    [1, 'hours', 'min', 'min'],
    [7, 'hours', 'min', 'h'],
    [5.2, 'uIU/mL', 'pg/mL', 'pg/mL'],
  ])('%p %s coded %s is excluded, naming both', (value, unit, code, target) => {
    expect(normaliseQuantity(q(value, unit, code), target)).toEqual({ problem: `unit ${unit} and its UCUM code ${code} disagree` });
  });
  it('reads "C" and "F" beside a temperature code as its degree letter, not coulomb or farad', () => {
    expect(normaliseQuantity(q(38.4, 'C', 'Cel'), 'Cel')).toMatchObject({ measured: { value: 38.4 } });
    expect(normaliseQuantity(q(101, 'F', '[degF]'), 'Cel')).toMatchObject({ measured: { converted: true } });
    expect(normaliseQuantity(q(101, 'F', 'Cel'), 'Cel')).toEqual({ problem: 'unit F and its UCUM code Cel disagree' });
  });
  it('agrees when the spelling names the coded unit', () => {
    expect(normaliseQuantity(q(38.6, '°C', 'Cel'), 'Cel')).toMatchObject({ measured: { value: 38.6 } });
    expect(normaliseQuantity(q(101, 'ºF', '[degF]'), 'Cel')).toMatchObject({ measured: { converted: true } });
    expect(normaliseQuantity(q(12, 'uIU/ml', 'u[IU]/mL'), 'u[IU]/mL')).toMatchObject({ measured: { value: 12 } });
  });
  it.each([
    [25, 'uIU/ml', 'u[IU]/mL', 25],
    [25, 'mIU/l', 'u[IU]/mL', 25],
    [101, 'ºF', 'Cel', 38.3333333333],
    [38.5, '° C', 'Cel', 38.5],
  ])('reads %p %s (a lower-case-l or degree-sign variant) without a code', (value, unit, target, expected) => {
    const r = normaliseQuantity({ value, unit }, target);
    expect('measured' in r && r.measured.value).toBeCloseTo(expected, 6);
  });
  it('marks a value converted only when the unit changed size, not when float noise was removed', () => {
    const r = normaliseQuantity({ value: 5.123456789012345, unit: 'pg/ml' }, 'pg/mL');
    expect('measured' in r && r.measured.converted).toBeUndefined();
  });
});
