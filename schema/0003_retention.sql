-- Processed Stripe event ids and refused inputs are kept for a while, not forever:
-- the hourly housekeeping prunes them by age, so it needs them ordered by time.
CREATE INDEX stripe_events_processed_idx ON stripe_events (processed_at);
