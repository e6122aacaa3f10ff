-- Event ids of the deliveries dated >= $from that some other delivery also holds
-- (hashed first: one pass over the ids of every delivery, exact ids only for the few
-- hashes seen twice). {scope}
CREATE OR REPLACE TEMP TABLE resent_candidates AS
SELECT hash(event_id) AS id_hash
FROM raw.product_events
{where}
GROUP BY 1
HAVING count(*) > 1;
