-- The scheduler reads, every pass, how many SCHEDULED runs each deployment has ahead and the
-- latest of their times (one grouped query over `state_type = 'SCHEDULED' AND
-- next_scheduled_start_time >= now`). With `deployment_id` in the state index that query reads
-- the index alone instead of looking up every scheduled run's row; the index's other users
-- (late runs, a queue's scheduled runs) use its first two columns as before.
DROP INDEX flow_run_state_type;
CREATE INDEX flow_run_state_type ON flow_run (state_type, next_scheduled_start_time, deployment_id);
