-- core.product_events as of {as_of}, and the usage rollups the measures read, as views:
-- 50M events are not copied for each as-of date. Rows of deliveries dated <= {as_of}
-- for known accounts, without resent copies (see sql/usage_rollup.sql).
--  * core.product_user_days: one row per account, user, UTC day and delivery;
--    `first_delivery` marks one row per (account, user, day);
--  * core.product_feature_days: one row per account, UTC day, event name and delivery.
-- Events of unknown accounts and resent copies are quarantined for this as-of date
-- (stage 'core'), as the other datasets' rows are by sql/core_dataset.sql
-- (parameters $as_of, $run_id, $previous: see assets/core.py: previous_core_date).

CREATE OR REPLACE VIEW core.product_events AS
SELECT
    DATE {as_of} AS as_of_date,
    {columns},
    event._source_file,
    event._delivery_date
FROM raw.product_events AS event
WHERE event._delivery_date <= DATE {as_of}
  AND event.account_id IN (SELECT account_id FROM core.known_accounts)
  AND NOT EXISTS (SELECT 1 FROM rollup.resent_events AS resent
                  WHERE resent.event_id = event.event_id
                    AND resent.delivery_date = event._delivery_date);

CREATE OR REPLACE VIEW core.product_user_days AS
SELECT account_id, user_id, day, events, logins, trainings, limit_hits, first_delivery
FROM rollup.user_days
WHERE delivery_date <= DATE {as_of} AND day <= DATE {as_of}
  AND account_id IN (SELECT account_id FROM core.known_accounts);

CREATE OR REPLACE VIEW core.product_feature_days AS
SELECT account_id, day, event_name, events
FROM rollup.feature_days
WHERE delivery_date <= DATE {as_of} AND day <= DATE {as_of}
  AND account_id IN (SELECT account_id FROM core.known_accounts);

DELETE FROM quarantine.rejected_rows
WHERE stage = 'core' AND dataset = 'product_events' AND as_of_date = $as_of;

CREATE OR REPLACE TEMP TABLE unknown_event_accounts AS
SELECT DISTINCT
    account_id,
    CASE WHEN account_id IN (SELECT account_id FROM core.quarantined_accounts)
         THEN 'account_quarantined' ELSE 'unknown_account' END AS reason
FROM rollup.user_days
WHERE delivery_date <= $as_of
  AND account_id NOT IN (SELECT account_id FROM core.known_accounts);

-- Events of the deliveries up to $previous, when set: its rejected rows, with the
-- account's reason as of $as_of.
-- They are the same raw rows, an account known then is known now, and a resent copy
-- stays one; reading 50M raw events again for a few thousand rows would take seconds.
INSERT INTO quarantine.rejected_rows
SELECT
    $run_id, 'product_events', earlier.source_file, earlier.row_number, earlier.record,
    list_filter([unknown.reason,
                 CASE WHEN list_contains(earlier.reasons, 'already_delivered')
                      THEN 'already_delivered' END],
                lambda reason: reason IS NOT NULL),
    earlier.delivery_date, 'core', $as_of
FROM quarantine.rejected_rows AS earlier
LEFT JOIN unknown_event_accounts AS unknown ON unknown.account_id = earlier.record ->> 'account_id'
WHERE earlier.stage = 'core' AND earlier.dataset = 'product_events'
  AND earlier.as_of_date = CAST($previous AS DATE)
  AND (unknown.reason IS NOT NULL OR list_contains(earlier.reasons, 'already_delivered'));

-- Events of the deliveries after $previous (of every delivery, without it).
INSERT INTO quarantine.rejected_rows
SELECT
    $run_id, 'product_events', event._source_file, event._row_number,
    to_json(struct_pack({record_columns}))::VARCHAR,
    list_filter([unknown.reason,
                 CASE WHEN resent.event_id IS NOT NULL THEN 'already_delivered' END],
                lambda reason: reason IS NOT NULL),
    event._delivery_date, 'core', $as_of
FROM raw.product_events AS event
LEFT JOIN unknown_event_accounts AS unknown ON unknown.account_id = event.account_id
LEFT JOIN rollup.resent_events AS resent
    ON resent.event_id = event.event_id AND resent.delivery_date = event._delivery_date
WHERE event._delivery_date <= $as_of
  AND event._delivery_date > coalesce(CAST($previous AS DATE), DATE '0001-01-01')
  AND (unknown.reason IS NOT NULL OR resent.event_id IS NOT NULL);

DROP TABLE unknown_event_accounts;
