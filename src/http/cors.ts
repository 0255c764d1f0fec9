/**
 * CORS for browser-based CDS clients (the CDS Hooks sandbox is a browser app and cannot call us otherwise).
 * Preflight succeeds without credentials; requests may carry Authorization (the client's JWT) and a JSON body.
 */
import type { RequestHandler } from 'express';

export const cors: RequestHandler = (req, res, next) => {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', 'X-Request-Id');
  if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, Accept, X-Request-Id');
    res.setHeader('Access-Control-Max-Age', '600');
    res.status(204).end();
    return;
  }
  next();
};
