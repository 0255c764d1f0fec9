/**
 * The patient pseudonym kept in card history: HMAC-SHA256 of the patient id keyed with the deployment's secret
 * salt, as 64 hex characters. Stable for one deployment (the same patient always gets the same value, across
 * restarts and replicas), meaningless without the salt, and never reversible to the id.
 *
 * The salt is `PATIENT_HASH_SALT` when set, else the random salt the first migration stored in the database.
 * (This is not `logger.pseudonym`, whose salt changes with every process.)
 */
import { createHmac } from 'node:crypto';

export type PatientHasher = (patientId: string) => string;

export function patientHasher(salt: string): PatientHasher {
  if (salt.length < 16) throw new Error('the patient-hash salt is too short');
  const key = Buffer.from(salt, 'utf8');
  return (patientId) => createHmac('sha256', key).update(patientId, 'utf8').digest('hex');
}
