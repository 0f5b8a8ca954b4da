-- `ops show` also lists the inputs refused that named the session (0010 missed them):
-- an index read too, however many refusals the last 90 days kept.
CREATE INDEX rejected_inputs_reference_idx ON rejected_inputs (reference);
