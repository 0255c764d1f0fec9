/**
 * The request-pool key (`Type/id`) of a literal reference: relative or absolute, with or without a version
 * (`Medication/1/_history/2`). Contained references (`#id`) are not pool keys (see `deref()` in fhirpath.ts).
 */
export function referenceKey(ref: string): string {
  return ref.replace(/\/_history\/[^/]*$/, '').replace(/^.*\/([A-Z][A-Za-z]+\/[^/]+)$/, '$1');
}
