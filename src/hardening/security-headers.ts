/**
 * Security headers on every response (helmet), tuned for a JSON API that browsers reach through CORS:
 * a CSP that allows nothing (routes serving HTML, like the preview page, set their own), no framing, no
 * referrer, no MIME sniffing, HSTS (meaningful behind the TLS proxy), and `Cache-Control: no-store` because
 * cards and errors may describe a patient.
 */
import type { RequestHandler } from 'express';
import helmet from 'helmet';

export function securityHeaders(): RequestHandler {
  const h = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
    },
    // CORS requests (the sandbox, EHR web apps) are not subject to CORP; it only stops no-cors embedding.
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    xFrameOptions: { action: 'deny' },
  });
  return (req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    h(req, res, next);
  };
}
