/**
 * The fields a card template can read from a selection: `{{subject.value}}`, `{{elevated.count}}` …
 * Shared by the loader (which rejects unknown fields at start-up) and the card renderer.
 */

/** Fields of one selected item. */
export const SELECTION_FIELDS = ['value', 'reported', 'date', 'datetime', 'tier', 'label'];

/** Fields of a series (and of one item, where they make sense). */
export const SERIES_FIELDS = ['count', 'span', 'first', 'last', 'slopePerMonth', 'lastToFirst', 'cvPercent'];
