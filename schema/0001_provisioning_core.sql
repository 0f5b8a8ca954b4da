-- The provisioning hand-off: the catalogue, the accounts and jobs a settled checkout
-- creates, every job's history, and what the watchdog reads and writes.
-- Timestamps are timestamptz; every session (pg and the Data API) runs in UTC.

-- Which package a checkout buys, and the tokens quota it grants. Never guessed: a
-- checkout for a slug that is not here is recorded with no trigger payload.
CREATE TABLE packages (
  slug text PRIMARY KEY CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  tier text NOT NULL,
  tokens_quota bigint NOT NULL CHECK (tokens_quota > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The paying customer's account: one per checkout session, so one tenant per purchase.
CREATE TABLE customer_accounts (
  id uuid PRIMARY KEY,
  stripe_session_id text NOT NULL UNIQUE,
  stripe_customer_id text,
  email text,
  package_slug text,
  tier text,
  tokens_quota bigint NOT NULL DEFAULT 0 CHECK (tokens_quota >= 0),
  -- awaiting_payment: delayed payment method, not settled yet; pending: settled, tenant
  -- on its way; active: tenant provisioned; failed: the delayed payment failed.
  status text NOT NULL CHECK (status IN ('awaiting_payment', 'pending', 'active', 'failed')),
  deployment_id text,
  cell_id text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- One row per settled checkout: the durable hand-off to the orchestrator.
CREATE TABLE provisioning_jobs (
  id uuid PRIMARY KEY,
  account_id uuid NOT NULL REFERENCES customer_accounts (id),
  stripe_session_id text NOT NULL UNIQUE,
  -- enqueued: handed off, awaiting a callback; provisioning: the orchestrator reports
  -- progress; failed: the orchestrator reported an error; provisioned: terminal.
  status text NOT NULL CHECK (status IN ('enqueued', 'provisioning', 'failed', 'provisioned')),
  phase text,
  -- Hand-offs dispatched (the first and every re-drive), each counted once.
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error text,
  deployment_id text CHECK (deployment_id ~ '^dpl_'),
  cell_id text,
  package_slug text,
  tokens_quota bigint CHECK (tokens_quota >= 0),
  -- The exact OnboardingInput sent to the orchestrator; NULL when the package was
  -- unknown, and then never replayed with a guess.
  trigger_payload jsonb,
  last_attempt_at timestamptz,
  heartbeat_at timestamptz,
  provisioned_at timestamptz,
  created_at timestamptz NOT NULL,
  -- Last progress: recording, a callback, or an operator's re-arm. Hand-off attempts do
  -- not move it, so a job the orchestrator never answers reaches the STUCK gauge.
  updated_at timestamptz NOT NULL,
  CONSTRAINT provisioned_has_coordinates
    CHECK (status <> 'provisioned' OR (deployment_id IS NOT NULL AND cell_id IS NOT NULL))
);

-- The STUCK gauge and the STALE scan read only non-terminal rows, so their cost grows
-- with the jobs in flight, not with every tenant ever provisioned.
CREATE INDEX provisioning_jobs_stuck_idx ON provisioning_jobs (updated_at)
  INCLUDE (attempts) WHERE status <> 'provisioned';
CREATE INDEX provisioning_jobs_stale_idx ON provisioning_jobs (last_attempt_at NULLS FIRST, created_at)
  INCLUDE (attempts) WHERE status <> 'provisioned';

-- Every transition and operator action on a job, with who did it and why.
CREATE TABLE provisioning_job_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id uuid NOT NULL REFERENCES provisioning_jobs (id),
  occurred_at timestamptz NOT NULL,
  kind text NOT NULL,
  from_status text,
  to_status text,
  -- stripe, handoff, reconciler, orchestrator, watchdog, or operator:<identity>
  actor text NOT NULL,
  reason text,
  detail jsonb
);
CREATE INDEX provisioning_job_events_job_idx ON provisioning_job_events (job_id, id);

-- People who operate the platform; admins receive the watchdog's notifications.
CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL UNIQUE,
  role text NOT NULL CHECK (role IN ('admin', 'member')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_admin_idx ON users (id) WHERE role = 'admin';

-- A tenant's database as the orchestrator reports it; provisioned_at is when its
-- provisioning started (the seed's name), which the 30-minute stall rule measures from.
CREATE TABLE organization_databases (
  id text PRIMARY KEY,
  account_id uuid REFERENCES customer_accounts (id),
  status text NOT NULL CHECK (status IN ('provisioning', 'migrating', 'ready', 'failed')),
  provisioned_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX organization_databases_in_flight_idx ON organization_databases (provisioned_at)
  WHERE status IN ('provisioning', 'migrating');

CREATE TABLE notifications (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id),
  level text NOT NULL CHECK (level IN ('info', 'warning', 'error')),
  kind text NOT NULL,
  message text NOT NULL,
  organization_database_id text REFERENCES organization_databases (id),
  job_id uuid REFERENCES provisioning_jobs (id),
  created_at timestamptz NOT NULL,
  read_at timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);

-- What the watchdog last told whom about what, so a stall that lasts is not repeated
-- every hour, and two overlapping runs notify once.
CREATE TABLE watchdog_alerts (
  subject_kind text NOT NULL CHECK (subject_kind IN ('database_stalled', 'job_capped')),
  subject_id text NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id),
  last_notified_at timestamptz NOT NULL,
  PRIMARY KEY (subject_kind, subject_id, user_id)
);
