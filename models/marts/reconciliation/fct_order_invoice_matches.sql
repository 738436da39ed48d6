-- Orders ↔ invoices auto-matches with the billed amount in invoice, order and reporting
-- currency, extra charges set aside. Built in int_order_invoice_matches; marts only
-- publish (no model outside the marts reads a mart).
select
    matches.*,
    '{{ recon_reporting_currency() }}' as reporting_currency  -- the currency of billed_amount_reporting
from {{ ref('int_order_invoice_matches') }} as matches
