/**
 * A hook call is about one patient, `context.patientId`. A resource that names another patient — a Patient
 * with another id, or a `subject`/`patient` reference to another Patient — is left out of the evaluation and
 * reported, never used: its results would become advice (and draft orders) for the patient in context. An
 * EHR's prefetch or FHIR server should never send one; this is the guard for when it does.
 *
 * Resources that name no patient (Medication) or a non-Patient subject (Group, Device) are kept.
 */
import type { FhirResource } from 'fhir/r4';
import { referenceKey } from '../engine/references';
import type { InvalidResource } from './fhir-r4';

export interface Scoped {
  own: FhirResource[];
  /** What was left out: type, the element that names another patient, keyword `other-patient` (never the id). */
  others: InvalidResource[];
}

export function scopeToPatient(resources: readonly FhirResource[], patientId: string): Scoped {
  const own: FhirResource[] = [];
  const others: InvalidResource[] = [];
  const self = `Patient/${patientId}`;
  for (const r of resources) {
    const where = otherPatientAt(r, self);
    if (where) others.push({ resourceType: r.resourceType, path: where, keyword: 'other-patient' });
    else own.push(r);
  }
  return { own, others };
}

/** The JSON path of the element that names another patient than `self` (`Patient/{id}`), if any. */
function otherPatientAt(r: FhirResource, self: string): string | undefined {
  if (r.resourceType === 'Patient') return `Patient/${r.id}` === self ? undefined : '/id';
  const record = r as unknown as Record<string, unknown>;
  for (const element of ['subject', 'patient']) {
    const ref = (record[element] as { reference?: unknown } | undefined)?.reference;
    if (typeof ref !== 'string') continue;
    const key = referenceKey(ref);
    if (key.startsWith('Patient/') && key !== self) return `/${element}`;
  }
  return undefined;
}
