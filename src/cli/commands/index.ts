/** Every CLI command, one module each. Add a command by writing its module and listing it here. */
import type { Command } from 'commander';
import { registerServe } from './serve';
import { registerDevToken } from './dev-token';
import { registerFhirServer } from './fhir-server';
import { registerFeedbackSummary } from './feedback-summary';
import { registerLoad } from './load';
import { registerFire } from './fire';
import { registerValidateRules } from './validate-rules';
import { registerConformance } from './conformance';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerServe, registerFhirServer, registerFeedbackSummary, registerLoad, registerFire, registerValidateRules, registerDevToken, registerConformance];
