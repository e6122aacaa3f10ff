-- Which datasets had any delivery folder dated <= $as_of. An absent dataset is read as
-- empty, and the measures that need it are missing rather than zero.
CREATE OR REPLACE TABLE core.dataset_status AS
SELECT
    CAST($as_of AS DATE) AS as_of_date,
    dataset.name AS dataset,
    max(d.delivery_date) IS NOT NULL AS delivered,
    max(d.delivery_date) AS newest_delivery
FROM (SELECT unnest($datasets) AS name) AS dataset
LEFT JOIN meta.deliveries AS d
    ON d.dataset = dataset.name AND d.delivery_date <= $as_of
GROUP BY dataset.name;
