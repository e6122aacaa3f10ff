-- Scalar helpers every connection holds: the working one (pipelines/resources.py:
-- prepare_connection) and the reports' read-only one (pipelines/reports/data.py).

-- The sum of DOUBLEs, each taken to 12 decimals, added exactly: the same total in any
-- order. A plain DOUBLE sum depends on the order its rows meet, which varies with the
-- threads of a run: a score at x.x5 rounded either way from one run to the next.
CREATE OR REPLACE TEMP MACRO exact_sum(x) AS
    CAST(sum(CAST(x AS DECIMAL(38, 12))) AS DOUBLE);

-- An alert episode of mart.health_alerts is open on `day` when it was raised on or
-- before it and not cleared by then (cleared_on is the first day it no longer held).
CREATE OR REPLACE TEMP MACRO alert_open_on(raised_on, cleared_on, day) AS
    raised_on <= day AND (cleared_on IS NULL OR cleared_on > day);
