-- The reconciler's own state (one row), so that it can re-drive a large backlog at one
-- global pace and stay away from Aurora when nothing happens:
-- - a lease: one run at a time, whoever starts it (the schedule, a retried invocation,
--   an operator's forced run), so the cap on re-drives per second is global;
-- - quiet_since: when a run last found nothing in flight (no job that is not
--   provisioned or cancelled, no tenant database provisioning or migrating, the breaker
--   closed); while a later run confirms it, ticks publish the gauge without reading the
--   database. Every statement that can put something in flight sets woken_at when it
--   finds quiet_since set, and its caller wakes the reconciler before answering; a run
--   never confirms a quiet time that a writer has woken it from.
CREATE TABLE reconciler_state (
  id text PRIMARY KEY CHECK (id = 'reconciler'),
  lease_token uuid,
  lease_expires_at timestamptz,
  quiet_since timestamptz,
  woken_at timestamptz
);
INSERT INTO reconciler_state (id) VALUES ('reconciler');

-- A Stripe event is checked, acted on and marked in one statement; the call that marked
-- it is known by its token, so a replay of that very call (an ambiguous Data API fault)
-- is told from another delivery of the event.
ALTER TABLE stripe_events ADD COLUMN request_token uuid;

-- The operator's list of the watchdog's notifications, newest first, stays an index read
-- however many have been sent over the years.
CREATE INDEX notifications_recent_idx ON notifications (created_at DESC, id);
