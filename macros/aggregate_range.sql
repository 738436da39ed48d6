{#- The range a total formed from many source rows must keep to be one the models can compute
    with: the same as one amount's in its currency (landing contract: below 10^12 in absolute
    value, and tighter for a currency worth more than a yen, recon_amount_limit, so that it
    converts into any other currency within range). Every amount is below it, but a campaign's
    spend over its days, an invoice's lines or a project's deliverables add up as many rows as
    the source sends: 150 days of spend at 999,999,999,999 overflowed DECIMAL(18, 4) in
    int_ads_campaigns and stopped every run until the file was removed, and one day of
    999,999,999,999 USD spend on a JPY order overflowed int_orders_delivered. Such a record is
    held out of matching where it is formed (int_ads_campaigns, int_invoice_lines_billable,
    int_fulfilment_projects) and raised (int_amounts_out_of_range: amount_out_of_range); its
    rows stay loaded. `currency` is the record's: null (nothing converted) has the general
    range. -#}
{% macro recon_within_aggregate_range(total, currency) -%}
    abs({{ total }}) < {{ recon_amount_limit(currency) }}
{%- endmacro %}

{#- The range of an order's leg (int_orders_out_of_range): five times one amount's range in the
    order currency. An order's leg adds up records in other currencies, converted: one record
    at the top of its range (9,999,999,999 GBP) is about 2 x 10^12 in JPY, twice the JPY range,
    so a leg has room for it (the ranges are all worth 6 to 14 billion US dollars; the singular
    test assert_fx_rates_keep_amount_limits checks one converts into another below five times
    its range). Below it, a leg and its variance against the booking (at most six times the
    range) convert into any currency below 6 x 10^13, within DECIMAL(18, 4). -#}
{% macro recon_within_order_range(total, currency) -%}
    abs({{ total }}) < {{ recon_amount_limit(currency) }} * 5
{%- endmacro %}
