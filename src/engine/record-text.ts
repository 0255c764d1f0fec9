/**
 * Text taken from the record into cards (a label, an exclusion reason, a value as reported) is clipped: a
 * record's strings can be any length, and a card repeats them in its detail and summary.
 */
export const RECORD_TEXT_MAX = 200;

/** `text`, or its first `max` − 1 characters and "…" (never half of a surrogate pair). */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return `${text.slice(0, end).trimEnd()}…`;
}

/** Record text clipped to RECORD_TEXT_MAX characters. */
export function clipRecordText(text: string): string {
  return clipText(text, RECORD_TEXT_MAX);
}
