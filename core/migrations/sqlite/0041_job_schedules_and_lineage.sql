-- A job's cron schedule (its `{"schedule": …}` trigger; NULL without one) and
-- when it last fired (unix seconds): the scheduler starts a run when the schedule's next time
-- after `fired_at` has come.
ALTER TABLE jobs ADD COLUMN schedule TEXT;
ALTER TABLE jobs ADD COLUMN fired_at INTEGER;

-- What a webhook's deliveries carry: `strata` (the event) or `openlineage` (an OpenLineage
-- RunEvent of each run.* event).
ALTER TABLE webhooks ADD COLUMN format TEXT NOT NULL DEFAULT 'strata';
