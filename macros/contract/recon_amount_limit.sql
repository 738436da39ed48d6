{#- Rendered from orchestration/contract.py (AMOUNT_LIMITS) by `recon contract --write`: edit the
    contract, not this file. The range (exclusive, in absolute value) of an amount in `currency`: at
    these limits every amount converts into every traded currency below
    10,000,000,000,000 at the seeded rates
    (tests/reference/assert_fx_rates_keep_amount_limits.sql). A null or unknown currency (nothing is
    converted) has the general range,
    1,000,000,000,000. -#}
{% macro recon_amount_limit(currency) -%}
    case upper({{ currency }})
        when 'USD' then cast(10000000000 as decimal(38, 4))
        when 'EUR' then cast(10000000000 as decimal(38, 4))
        when 'GBP' then cast(10000000000 as decimal(38, 4))
        when 'CAD' then cast(10000000000 as decimal(38, 4))
        when 'AUD' then cast(10000000000 as decimal(38, 4))
        when 'CHF' then cast(10000000000 as decimal(38, 4))
        when 'SEK' then cast(100000000000 as decimal(38, 4))
        when 'JPY' then cast(1000000000000 as decimal(38, 4))
        else cast(1000000000000 as decimal(38, 4))
    end
{%- endmacro %}

{#- What every amount, converted into any traded currency, stays below (the singular test's bound). -#}
{% macro recon_max_abs_converted() -%}
    cast(10000000000000 as decimal(38, 4))
{%- endmacro %}

{#- The columns of a raw table whose amounts have the range of the row's currency: a row
    loaded under an older contract with one past it is held out of staging
    (recon_hold_out_past_amount_range) and raised as amount_out_of_range. -#}
{% macro recon_amount_columns(table_name) -%}
    {{ return({'crm__orders': ['amount'], 'ads__delivery': ['spend'], 'ads__credits': ['amount'], 'billing__invoices': ['net_amount', 'tax_amount', 'total_amount'], 'billing__credit_notes': ['net_amount'], 'fulfilment__deliverables': ['unit_value']}.get(table_name, [])) }}
{%- endmacro %}
