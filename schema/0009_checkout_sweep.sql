-- The missed-checkout sweep (issue 13) lists the checkout sessions Stripe completed
-- in a look-back window and records every paid one of ours that has no job. A pass
-- over one window may span several runs (a run stops before its deadline, or is cut
-- off): this one row is its high-water mark, so the next run resumes after the last
-- session examined instead of listing the window again from the start.
CREATE TABLE checkout_sweep (
  id text PRIMARY KEY CHECK (id = 'checkout_sessions'),
  -- The pass's window on the sessions' `created` time, fixed when it starts.
  window_from timestamptz NOT NULL,
  window_to timestamptz NOT NULL CHECK (window_to >= window_from),
  -- The last session examined (Stripe's `starting_after`); NULL at a pass's start.
  resume_after text,
  listed integer NOT NULL DEFAULT 0 CHECK (listed >= 0),
  recorded integer NOT NULL DEFAULT 0 CHECK (recorded >= 0),
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  -- The run holding the pass, until its lease lapses: two runs never list at once.
  run_token uuid NOT NULL,
  lease_until timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Stripe events delivered by Amazon EventBridge (Stripe's event destination) that were
-- refused are recorded as such, apart from the webhook's.
ALTER TABLE rejected_inputs DROP CONSTRAINT rejected_inputs_source_check;
ALTER TABLE rejected_inputs ADD CONSTRAINT rejected_inputs_source_check
  CHECK (source IN ('stripe_webhook', 'stripe_eventbridge', 'callback', 'operator_api', 'handoff_queue'));
