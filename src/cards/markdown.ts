/**
 * Text that comes from a patient's record (display strings, units, statuses) is inserted into card Markdown
 * escaped, so it cannot open a link (marked up or bare), an image, a table cell or raw HTML in the EHR (the CDS Hooks sandbox
 * renders detail with raw HTML enabled). Text written in the rule files is trusted and inserted as is.
 */

// Character-class bodies, each written once: the regular expressions below are built from them.
/** Markdown syntax, backslash-escaped (`~` is GFM strikethrough). */
const SPECIAL_CHARS = '\\\\`*_~[\\]|#!@';
/** Control characters (C0, DEL, C1): each run becomes one space. */
const CONTROL_CHARS = '\\u0000-\\u001f\\u007f-\\u009f';
/**
 * Invisible characters that change how the rest of the line is shown: bidirectional overrides, embeddings,
 * isolates and marks ("Sepsis \u202Eon 2026" shows its date reversed), zero-width space and word joiner, BOM.
 * They are removed. The zero-width (non-)joiners that scripts and emoji need stay.
 */
const INVISIBLE_CHARS = '\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060\\u2066-\\u2069\\ufeff';

const MARKDOWN_SPECIAL = new RegExp(`[${SPECIAL_CHARS}]`, 'g');
const CONTROL = new RegExp(`[${CONTROL_CHARS}]+`, 'g');
const INVISIBLE = new RegExp(`[${INVISIBLE_CHARS}]`, 'g');

/**
 * What GitHub-Flavored Markdown turns into a link without any markup (autolinks: `https://…`, `www.…`,
 * `name@host`): the `:` of a scheme and the `.` after `www` are backslash-escaped (and `@` above), which
 * renders the same text but no link: a display string in the record cannot become a phishing link in the EHR.
 */
const AUTOLINK = /([a-z][a-z0-9+.-]*):(?=\/\/)|(www)\.(?=[^\s.])/gi;

/** Any character escapeMarkdown changes. */
const NEEDS_ESCAPE = new RegExp(`[${CONTROL_CHARS}${INVISIBLE_CHARS}&<>${SPECIAL_CHARS}]|:\\/\\/|www\\.`, 'i');

/** An escape escapeMarkdown writes: before a special character, or the `:` and `.` of an autolink. */
const ESCAPED = new RegExp(`\\\\([${SPECIAL_CHARS}:.])`, 'g');

/** Escapes record text for Markdown: special characters backslash-escaped, HTML as entities, one line. */
export function escapeMarkdown(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text.trim(); // most text ("IL-6", "5.1 pg/mL") has nothing to escape
  return text
    .replace(INVISIBLE, '')
    .replace(CONTROL, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(MARKDOWN_SPECIAL, (c) => `\\${c}`)
    .replace(AUTOLINK, (_m, scheme: string | undefined, www: string | undefined) => (scheme !== undefined ? `${scheme}\\:` : `${www}\\.`))
    .trim();
}

/**
 * Record text for plain-text fields (card summary): one line, no angle brackets, no control or invisible characters. A
 * comparator before a number is written out instead of dropped, so ">3.0" never reads as the exact value 3.0:
 * `<` → "below", `<=` → "≤", `>` → "above", `>=` → "≥".
 */
export function plainText(text: string): string {
  return text
    .replace(INVISIBLE, '')
    .replace(CONTROL, ' ')
    .replace(/(<=|>=|<|>)\s*(?=[-+]?\.?\d)/g, (c) => COMPARATOR_WORDS[c.trim()]!)
    .replace(/[<>]/g, '')
    .trim();
}

const COMPARATOR_WORDS: Record<string, string> = { '<': 'below ', '<=': '≤', '>': 'above ', '>=': '≥' };

/** A Markdown table; cells must already be escaped. */
export function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** What a clinician reads: Markdown escapes and entities undone (used by tests and the terminal printer). */
export function readableText(markdown: string): string {
  return markdown
    .replace(ESCAPED, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
