-- What the Lambda handlers need beside the jobs: Stripe events already processed
-- (Stripe retries for three days, in any order), operator requests by idempotency
-- key, and inputs that were refused, so an operator can see them.

CREATE TABLE stripe_events (
  id text PRIMARY KEY,
  type text NOT NULL,
  stripe_session_id text,
  processed_at timestamptz NOT NULL
);

-- POST /api/internal/provisioning/jobs: the same key with the same body is the same
-- job; the same key with another body is refused.
CREATE TABLE operator_requests (
  idempotency_key text PRIMARY KEY CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  request_hash text NOT NULL,
  stripe_session_id text NOT NULL UNIQUE,
  actor text NOT NULL,
  created_at timestamptz NOT NULL
);

-- Authenticated input that failed validation: where it came from, what it was about
-- and why it was refused. Never the whole body: Stripe payloads carry personal data.
CREATE TABLE rejected_inputs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source text NOT NULL CHECK (source IN ('stripe_webhook', 'callback', 'operator_api', 'handoff_queue')),
  reference text,
  reason text NOT NULL,
  received_at timestamptz NOT NULL
);
CREATE INDEX rejected_inputs_recent_idx ON rejected_inputs (received_at DESC);
