-- core.{dataset} brought forward from $previous to $as_of (assets/core.py:
-- previous_core_date). Its rows stay valid, so the newest valid version of a key changes
-- only where core_newer, the newest valid version among the rows of the deliveries after
-- $previous and those rejected for $previous, is newer.

DELETE FROM core.{dataset} AS kept
USING core_newer AS newer
WHERE {same_key} AND kept._delivery_date < newer._delivery_date;

INSERT INTO core.{dataset}
SELECT newer.*
FROM core_newer AS newer
ANTI JOIN core.{dataset} AS kept ON {same_key};

UPDATE core.{dataset} SET as_of_date = $as_of;

DROP TABLE core_newer;
