-- "Sold, not delivered" is a sold status: reaching it sets the sale date when missing
-- (sales::Statuses::transition), like "Sold". Existing databases get the flag here; new ones
-- from lists::builtin_lists().
UPDATE value_list_items SET flags = TRIM(flags || ' sets_sale_date')
 WHERE list_code = 'opportunity_status' AND code = 'vendu_non_livre'
   AND (' ' || flags || ' ') NOT LIKE '% sets_sale_date %';

-- Phone search by the local part ("555-1018" finds +15145551018): the search terms of
-- existing customers gain every trailing run of 7 digits or more of their numbers, shorter
-- than the number (customers::store::local_parts does the same for new writes).
INSERT INTO search_terms (entity_type, entity_id, term)
SELECT DISTINCT 'customer', c.id, SUBSTR(c.phone, LENGTH(c.phone) - k.n + 1)
  FROM customers c
  JOIN (SELECT 7 AS n UNION ALL SELECT 8 UNION ALL SELECT 9 UNION ALL SELECT 10 UNION ALL SELECT 11
        UNION ALL SELECT 12 UNION ALL SELECT 13 UNION ALL SELECT 14) k ON LENGTH(c.phone) - 1 > k.n
 WHERE c.phone IS NOT NULL AND c.phone LIKE '+%'
ON CONFLICT DO NOTHING;

INSERT INTO search_terms (entity_type, entity_id, term)
SELECT DISTINCT 'customer', c.id, SUBSTR(c.mobile, LENGTH(c.mobile) - k.n + 1)
  FROM customers c
  JOIN (SELECT 7 AS n UNION ALL SELECT 8 UNION ALL SELECT 9 UNION ALL SELECT 10 UNION ALL SELECT 11
        UNION ALL SELECT 12 UNION ALL SELECT 13 UNION ALL SELECT 14) k ON LENGTH(c.mobile) - 1 > k.n
 WHERE c.mobile IS NOT NULL AND c.mobile LIKE '+%'
ON CONFLICT DO NOTHING;
