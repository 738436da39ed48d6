{#- The FX rate of a currency in the month of a business date, as a left join on
    int_fx_rates_monthly named `alias` (its rate_to_usd feeds convert_amount). One
    definition of which rate applies: the monthly rate of the date's month. A missing rate
    leaves the alias null, and convert_amount then yields null, never a guess.

        {{ fx_rate_join('order_rate', 'orders.currency', 'orders.service_end_date') }}
        {{ fx_rate_join('reporting_rate', "'" ~ recon_reporting_currency() ~ "'", 'orders.service_end_date') }}
-#}
{% macro fx_rate_join(alias, currency, on_date) -%}
    left join {{ ref('int_fx_rates_monthly') }} as {{ alias }}
        on {{ currency }} = {{ alias }}.currency
        and date_trunc('month', {{ on_date }}) = {{ alias }}.rate_month
{%- endmacro %}

{#- The same, for the reporting currency (var reporting_currency). -#}
{% macro fx_reporting_rate_join(alias, on_date) -%}
    {{ fx_rate_join(alias, "'" ~ recon_reporting_currency() ~ "'", on_date) }}
{%- endmacro %}
