-- Accounts the other datasets may refer to as of $as_of: any valid crm_accounts row in a
-- delivery dated <= $as_of (an account that left the latest snapshot keeps its history),
-- and accounts that appear only in quarantined crm_accounts rows. Each known account
-- keeps its owner from the newest delivery that holds it: the current owner, or the
-- last one of an account that has left the CRM.
-- (arg_max_null keeps a null owner of the newest row; a window over every daily
-- snapshot costs four times as much.)
CREATE OR REPLACE TABLE core.known_accounts AS
SELECT account_id, arg_max_null(csm_owner, (_delivery_date, _source_file)) AS csm_owner
FROM raw.crm_accounts
WHERE _delivery_date <= $as_of
GROUP BY account_id;

CREATE OR REPLACE TABLE core.quarantined_accounts AS
SELECT DISTINCT record ->> 'account_id' AS account_id
FROM quarantine.rejected_rows
WHERE dataset = 'crm_accounts' AND stage = 'load' AND delivery_date <= $as_of
  AND record ->> 'account_id' IS NOT NULL
  AND record ->> 'account_id' NOT IN (SELECT account_id FROM core.known_accounts);
