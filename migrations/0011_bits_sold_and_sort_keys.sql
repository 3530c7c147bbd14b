-- "Sold, not delivered" is a sold status: reaching it sets the sale date when missing
-- (sales::Statuses::transition), like "Sold". Existing databases get the flag here; new ones
-- from lists::builtin_lists().
UPDATE value_list_items SET flags = TRIM(flags || ' sets_sale_date')
 WHERE list_code = 'opportunity_status' AND code = 'vendu_non_livre'
   AND (' ' || flags || ' ') NOT LIKE '% sets_sale_date %';
