import * as z from 'zod';
import { JOB_STATUSES, OUTCOME_CLASSES } from '../../core/job.js';

/**
 * The provisioning job's statements live beside this file, one module per transition
 * family. Each transition is one SQL statement (one Data API round trip) that is atomic
 * and safe when callers race. Transitions that must tell "not found" from "refused" lock
 * the row first (`prior … FOR UPDATE`), so they judge the latest committed state, not
 * the statement's snapshot.
 */

/** A provisioning job row as every statement answers it. */

export const jobStatus = z.enum(JOB_STATUSES);

export const jobRow = z.object({
  id: z.string(),
  account_id: z.string(),
  stripe_session_id: z.string(),
  status: jobStatus,
  phase: z.string().nullable(),
  /** The newest attempt's number: it only grows. */
  attempts: z.number().int(),
  /** Dispatched attempts counted against the retry budget since the last re-arm. */
  budget_spent: z.number().int(),
  last_error: z.string().nullable(),
  deployment_id: z.string().nullable(),
  cell_id: z.string().nullable(),
  package_slug: z.string().nullable(),
  tokens_quota: z.number().int().nullable(),
  trigger_payload: z.record(z.string(), z.unknown()).nullable(),
  /** When the newest attempt was claimed. */
  last_attempt_at: z.date().nullable(),
  lease_expires_at: z.date().nullable(),
  dispatched_attempt: z.number().int().nullable(),
  dispatched_at: z.date().nullable(),
  outcome_attempt: z.number().int().nullable(),
  last_outcome: z.enum(OUTCOME_CLASSES).nullable(),
  last_http_status: z.number().int().nullable(),
  next_attempt_at: z.date().nullable(),
  parked_at: z.date().nullable(),
  capped_at: z.date().nullable(),
  cancelled_at: z.date().nullable(),
  cancel_reason: z.string().nullable(),
  heartbeat_at: z.date().nullable(),
  provisioned_at: z.date().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
});
export type JobRow = z.infer<typeof jobRow>;
