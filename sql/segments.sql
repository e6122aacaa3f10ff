-- segment_of(arr): the segment of an ARR in USD (config `segments`): enterprise above
-- {enterprise_above}, mid_market from {mid_market_from} up to it, smb below. Health scores
-- segment by ARR on the as-of date, retention by ARR at the start of each period.
-- ARR is compared in whole dollars: a 25,000 contract billed 2,083.33 a month (12 x MRR
-- = 24,999.96) is a 25,000 account, as its owner would say.
CREATE OR REPLACE TEMP MACRO segment_of(arr) AS
    CASE WHEN round(arr) > {enterprise_above} THEN 'enterprise'
         WHEN round(arr) >= {mid_market_from} THEN 'mid_market'
         ELSE 'smb' END;
