-- `ops show` reads one session's whole timeline: its Stripe events, the tenant databases
-- of its account and the watchdog's notifications about its job or those databases.
-- Each is an index read, however many sessions the system has served.
CREATE INDEX stripe_events_session_idx ON stripe_events (stripe_session_id);
CREATE INDEX organization_databases_account_idx ON organization_databases (account_id);
CREATE INDEX notifications_job_idx ON notifications (job_id);
CREATE INDEX notifications_database_idx ON notifications (organization_database_id);
