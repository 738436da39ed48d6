-- No invoice line is assigned to two orders: the billed amount of a line is counted
-- once. Returns the lines that appear in more than one match.
select
    invoice_line_id,
    count(*) as match_count
from {{ ref('fct_order_invoice_matches') }}
group by invoice_line_id
having count(*) > 1
