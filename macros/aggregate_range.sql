{#- The range a total formed from many source rows must keep to be one the models can compute
    with: the same as one amount's (landing contract: below 10^12 in absolute value). Every
    amount is below it, but a campaign's spend over its days, an invoice's lines or a
    project's deliverables add up as many rows as the source sends: 150 days of spend at
    999,999,999,999 overflowed DECIMAL(18, 4) in int_ads_campaigns and stopped every run
    until the file was removed. Such a record is held out of matching where it is formed
    (int_ads_campaigns, int_invoice_lines_billable, int_fulfilment_projects) and raised
    (int_amounts_out_of_range: amount_out_of_range); its rows stay loaded. With every total
    below 10^12, an order's legs (sums over its invoices, campaigns, projects) overflow only
    past a hundred such records. -#}
{% macro recon_within_aggregate_range(total) -%}
    abs({{ total }}) < cast(1000000000000 as decimal(38, 4))
{%- endmacro %}
