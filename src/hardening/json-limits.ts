/**
 * Limits on the shape of a parsed JSON body, checked right after parsing and before anything walks it:
 *   - nesting depth (objects and arrays): V8 parses very deep JSON fine, but recursive code after it
 *     (schema validation, FHIRPath, serialisers) would overflow the stack — a 500 from a client mistake;
 *   - no `__proto__` key anywhere: it is never valid FHIR or CDS Hooks, and code that copies objects key by
 *     key could turn it into a prototype change.
 * The walk is iterative, so the check itself cannot overflow.
 */
import type { RequestHandler } from 'express';
import { badRequest } from '../outcomes';

export type JsonShapeProblem = { kind: 'depth'; limit: number } | { kind: 'proto-key' };

/** The first problem of `value`, or undefined. Depth counts containers: `{}` is 1, `{"a":[]}` is 2. */
export function jsonShapeProblem(value: unknown, maxDepth: number): JsonShapeProblem | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  // Two parallel stacks and for…in: no array allocated per container (this walks every request body).
  // JSON.parse objects inherit nothing enumerable, so for…in sees exactly their own keys.
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop() as object;
    const depth = depths.pop()!;
    if (depth > maxDepth) return { kind: 'depth', limit: maxDepth };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (item !== null && typeof item === 'object') {
          values.push(item);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in v) {
        if (key === '__proto__') return { kind: 'proto-key' };
        const item = (v as Record<string, unknown>)[key];
        if (item !== null && typeof item === 'object') {
          values.push(item);
          depths.push(depth + 1);
        }
      }
    }
  }
  return undefined;
}

/** Express middleware for after `express.json()`: 400 for a body that breaks the limits. */
export function jsonShapeGuard(maxDepth: number): RequestHandler {
  return (req, _res, next) => {
    const problem = jsonShapeProblem(req.body, maxDepth);
    if (!problem) return next();
    next(
      problem.kind === 'depth'
        ? badRequest(`The request body nests objects and arrays deeper than ${maxDepth} levels.`)
        : badRequest('The request body contains the key "__proto__", which is not allowed.'),
    );
  };
}
