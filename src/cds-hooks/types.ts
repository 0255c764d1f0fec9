/**
 * CDS Hooks 2.0 types (https://cds-hooks.hl7.org/2.0/). The npm package `cds-hooks-types` named in the design
 * does not exist, so the project defines them here; the JSON Schemas in `schemas/` enforce the same shapes at
 * run time. Field comments give the spec's requiredness.
 */
import type { Coding, FhirResource } from 'fhir/r4';

export type Indicator = 'info' | 'warning' | 'critical';
export type SelectionBehavior = 'at-most-one' | 'any';
export type ActionType = 'create' | 'update' | 'delete';
export type LinkType = 'absolute' | 'smart';

/** One entry of the discovery document (`GET /cds-services`). */
export interface CdsServiceDefinition {
  hook: string; // REQUIRED
  title?: string; // RECOMMENDED
  description: string; // REQUIRED
  id: string; // REQUIRED
  prefetch?: Record<string, string>; // OPTIONAL: key -> prefetch template
  usageRequirements?: string; // OPTIONAL
}

export interface DiscoveryResponse {
  services: CdsServiceDefinition[];
}

export interface FhirAuthorization {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  subject: string;
  patient?: string;
}

/** patient-view context (hookVersion 1.0). */
export interface PatientViewContext {
  userId: string; // REQUIRED: Practitioner/..., PractitionerRole/..., Patient/..., RelatedPerson/...
  patientId: string; // REQUIRED
  encounterId?: string; // OPTIONAL
  [key: string]: unknown;
}

/** A prefetch value: a resource or Bundle, `null` ("no data"), or an OperationOutcome (client fetch error). */
export type PrefetchValue = FhirResource | null;

export interface CdsRequest {
  hook: string;
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: FhirAuthorization;
  context: PatientViewContext;
  prefetch?: Record<string, PrefetchValue>;
  extension?: Record<string, unknown>;
}

export interface Source {
  label: string;
  url?: string;
  icon?: string;
  topic?: Coding;
}

export interface Action {
  type: ActionType;
  description: string;
  resource?: FhirResource;
  resourceId?: string;
}

export interface Suggestion {
  label: string;
  uuid?: string;
  isRecommended?: boolean;
  actions?: Action[];
}

export interface Link {
  label: string;
  url: string;
  type: LinkType;
  appContext?: string;
}

/** Coding as used in `overrideReasons`: display is REQUIRED there. */
export interface OverrideReason {
  system: string;
  code: string;
  display: string;
}

export interface Card {
  uuid?: string;
  summary: string; // < 140 characters
  detail?: string; // GitHub-flavoured Markdown
  indicator: Indicator;
  source: Source;
  suggestions?: Suggestion[];
  selectionBehavior?: SelectionBehavior; // REQUIRED when suggestions are present
  overrideReasons?: OverrideReason[];
  links?: Link[];
}

export interface CdsResponse {
  cards: Card[];
  systemActions?: Action[];
}

export interface FeedbackItem {
  card: string; // the card's uuid
  outcome: 'accepted' | 'overridden';
  acceptedSuggestions?: { id: string }[];
  overrideReason?: { reason?: Coding; userComment?: string };
  outcomeTimestamp: string;
}

export interface FeedbackRequest {
  feedback: FeedbackItem[];
}
