/**
 * A black-box CDS Hooks 2.0 conformance suite for patient-view services: the checklist of the project's CDS Hooks
 * digest (items 1–59) run as HTTP checks against any CDS service. `il6-cds conformance` is its command line.
 */
export { CHECKLIST, parseItemList } from './checklist';
export { formatJson, formatText } from './report';
export { CHECKS, runConformance, type ConformanceOptions, type ConformanceReport, type ConformanceSummary } from './runner';
export { loadKeys, type SigningKey } from './tokens';
export type { CheckResult, Status, Tag } from './types';
