-- Accounts the other datasets may refer to as of $as_of: any valid crm_accounts row in a
-- delivery dated <= $as_of (an account that left the latest snapshot keeps its history),
-- and accounts that appear only in quarantined crm_accounts rows. Each known account
-- keeps its owner from the newest delivery that holds it: the current owner, or the
-- last one of an account that has left the CRM.
CREATE OR REPLACE TABLE core.known_accounts AS
SELECT account_id, csm_owner
FROM raw.crm_accounts
WHERE _delivery_date <= $as_of
QUALIFY row_number() OVER (PARTITION BY account_id
                           ORDER BY _delivery_date DESC, _source_file DESC) = 1;

CREATE OR REPLACE TABLE core.quarantined_accounts AS
SELECT DISTINCT record ->> 'account_id' AS account_id
FROM quarantine.rejected_rows
WHERE dataset = 'crm_accounts' AND stage = 'load' AND delivery_date <= $as_of
  AND record ->> 'account_id' IS NOT NULL
  AND record ->> 'account_id' NOT IN (SELECT account_id FROM core.known_accounts);
