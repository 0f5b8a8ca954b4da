-- The retry model of SPEC 2.5 (revised): an attempt is one delivery of the trigger,
-- claimed, dispatched and given an outcome; its number only grows; the retry budget is
-- counted apart; an attempt in flight holds a lease; permanent refusals park the job;
-- a breaker guards the orchestrator; an operator may cancel a job for good.

ALTER TABLE provisioning_jobs DROP CONSTRAINT provisioning_jobs_status_check;
ALTER TABLE provisioning_jobs ADD CONSTRAINT provisioning_jobs_status_check
  CHECK (status IN ('enqueued', 'provisioning', 'failed', 'provisioned', 'cancelled'));

ALTER TABLE customer_accounts DROP CONSTRAINT customer_accounts_status_check;
ALTER TABLE customer_accounts ADD CONSTRAINT customer_accounts_status_check
  CHECK (status IN ('awaiting_payment', 'pending', 'active', 'failed', 'cancelled'));

-- `attempts` is now the number of the newest attempt claimed for the job: it only grows,
-- so the queue's dedup id `<job id>:<attempt>` is never reused, not even after a re-arm.
ALTER TABLE provisioning_jobs
  -- Dispatched attempts that counted against the retry budget since the last re-arm.
  ADD COLUMN budget_spent integer NOT NULL DEFAULT 0 CHECK (budget_spent >= 0),
  -- An attempt is in flight until its outcome is recorded or this passes: the queue wait
  -- (from its claim) or the trigger's timeout (from its dispatch).
  ADD COLUMN lease_expires_at timestamptz,
  -- The newest attempt whose trigger was sent, when, and the call that sent it (a replay
  -- of that call after an ambiguous fault is recognised by its token).
  ADD COLUMN dispatched_attempt integer,
  ADD COLUMN dispatched_at timestamptz,
  ADD COLUMN dispatch_token uuid,
  -- The newest attempt whose outcome is recorded, and how it went.
  ADD COLUMN outcome_attempt integer,
  ADD COLUMN last_outcome text CHECK (last_outcome IN ('accepted', 'transient', 'permanent', 'deferred')),
  ADD COLUMN last_http_status integer,
  -- When the reconciler may re-drive the job if nothing else happens: an accepted attempt
  -- or progress waits out the quiet window, a transient failure its backoff.
  ADD COLUMN next_attempt_at timestamptz,
  -- The orchestrator refused the job (a permanent 4xx): never replayed into the same
  -- refusal, on the gauge at once, until an operator re-arms or cancels it.
  ADD COLUMN parked_at timestamptz,
  -- Due for a re-drive with no budget left: nothing more happens on its own.
  ADD COLUMN capped_at timestamptz,
  -- An operator closed the job for good (refunded, fraud, duplicate purchase).
  ADD COLUMN cancelled_at timestamptz,
  ADD COLUMN cancel_reason text;

-- Rows recorded before this migration: the budget spent is what `attempts` counted, and
-- the attempt number continues from the highest one ever sent (a re-arm used to reset
-- it), so no dedup id comes back. They are due once the old 5-minute window has passed.
UPDATE provisioning_jobs j SET
  budget_spent = j.attempts,
  attempts = greatest(j.attempts, coalesce(
    (SELECT max(CAST(e.detail->>'attempt' AS integer)) FROM provisioning_job_events e
     WHERE e.job_id = j.id AND e.detail->>'attempt' IS NOT NULL), 0)),
  next_attempt_at = coalesce(j.last_attempt_at + interval '5 minutes', j.created_at);

-- The reconciler's claim reads only jobs that may still be re-driven, due first.
DROP INDEX provisioning_jobs_stale_idx;
CREATE INDEX provisioning_jobs_due_idx ON provisioning_jobs (next_attempt_at NULLS FIRST, created_at)
  INCLUDE (budget_spent, lease_expires_at)
  WHERE status NOT IN ('provisioned', 'cancelled') AND parked_at IS NULL AND capped_at IS NULL;
-- The STUCK gauge reads only jobs that are not terminal.
DROP INDEX provisioning_jobs_stuck_idx;
CREATE INDEX provisioning_jobs_stuck_idx ON provisioning_jobs (updated_at)
  INCLUDE (parked_at, capped_at) WHERE status NOT IN ('provisioned', 'cancelled');

-- A replayed call (an ambiguous Data API fault) recognises its own history rows by the
-- call's token, and answers what the first call did instead of doing it twice.
ALTER TABLE provisioning_job_events ADD COLUMN request_token uuid;
CREATE UNIQUE INDEX provisioning_job_events_request_idx
  ON provisioning_job_events (request_token, job_id, kind) WHERE request_token IS NOT NULL;

-- The breaker toward the orchestrator (one row): it opens when triggers keep failing
-- transiently across jobs; while open, re-drives pause and one probe at a time is sent;
-- the first accepted trigger closes it. An operator may hold it open or closed.
CREATE TABLE orchestrator_breaker (
  id text PRIMARY KEY CHECK (id = 'orchestrator'),
  state text NOT NULL CHECK (state IN ('closed', 'open')),
  consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  opened_at timestamptz,
  -- Held by an operator: no probe is sent and nothing closes it but an operator.
  forced boolean NOT NULL DEFAULT false,
  -- The probe in flight while open: its job, attempt and lease.
  probe_job_id uuid,
  probe_attempt integer,
  probe_lease_expires_at timestamptz,
  last_probe_at timestamptz,
  -- Why it is in its state: the last failure class, or the operator's reason.
  reason text,
  changed_by text,
  changed_at timestamptz NOT NULL
);
INSERT INTO orchestrator_breaker (id, state, changed_at) VALUES ('orchestrator', 'closed', now());

CREATE TABLE orchestrator_breaker_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at timestamptz NOT NULL,
  kind text NOT NULL CHECK (kind IN ('opened', 'closed', 'forced_open', 'forced_closed')),
  actor text NOT NULL,
  reason text,
  detail jsonb,
  request_token uuid UNIQUE
);
CREATE INDEX orchestrator_breaker_events_recent_idx ON orchestrator_breaker_events (occurred_at DESC);

-- Tenants the orchestrator reported for cancelled jobs: `ops stuck` lists them for a decision.
CREATE INDEX provisioning_job_events_late_callback_idx ON provisioning_job_events (occurred_at DESC)
  WHERE kind = 'late_callback';
