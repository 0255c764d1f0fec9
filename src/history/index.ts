/** Card history for the running service: the recorder with the deployment's patient-hash salt, or none when off. */
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Store } from '../store/types';
import { patientHasher } from './pseudonym';
import { CardHistoryRecorder } from './recorder';

export { CardHistoryRecorder, type HistoryStats } from './recorder';

export async function createCardHistory(
  config: Pick<Config, 'cardHistory' | 'cardHistoryQueueMax' | 'patientHashSalt' | 'nodeEnv'>,
  store: Store,
  logger: Logger,
): Promise<CardHistoryRecorder | undefined> {
  if (config.cardHistory === 'off') {
    logger.info('card history off (CARD_HISTORY=off)');
    return undefined;
  }
  if (!config.patientHashSalt && config.nodeEnv === 'production') {
    logger.warn('PATIENT_HASH_SALT is not set: patient hashes use the salt stored in the database; set it from a secret store so a database copy alone cannot be tested against known patient ids');
  }
  const salt = config.patientHashSalt ?? (await store.patientHashSalt());
  return new CardHistoryRecorder({ store, hashPatient: patientHasher(salt), logger, maxQueue: config.cardHistoryQueueMax });
}
