/** escapeMarkdown returns text with nothing to escape as it is (trimmed): the same as escaping it every time. */
import { escapeMarkdown } from './markdown';

const escapeEveryTime = (text: string) =>
  text
    .replace(/[\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g, '')
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_~[\]|#!@]/g, (c) => `\\${c}`)
    .replace(/([a-z][a-z0-9+.-]*):(?=\/\/)|(www)\.(?=[^\s.])/gi, (_m, scheme?: string, www?: string) => (scheme !== undefined ? `${scheme}\\:` : `${www}\\.`))
    .trim();

it('gives what escaping every character class every time gives', () => {
  const alphabet = ['a', 'Z', '5', '.', ' ', '\t', '\n', '\u0000', '\u007f', '&', '<', '>', '\\', '`', '*', '_', '[', ']', '|', '#', '!', '-', '/', 'µ', '€', '😀', '@', ':', '//', 'www', 'WWW.', 'https:', '~', '\u202e', '\u0085', '\ufeff', '\u200b', '\u200d'];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 20000; i++) {
    let s = '';
    const n = Math.floor(next() * 12);
    for (let j = 0; j < n; j++) s += alphabet[Math.floor(next() * alphabet.length)];
    expect({ s, out: escapeMarkdown(s) }).toEqual({ s, out: escapeEveryTime(s) });
  }
});
