{#- Whether a raw row holds an amount past the range of its currency (recon_amount_limit),
    in any of the table's amount columns (recon_amount_columns, rendered from the contract).
    Ingest quarantines such a row today, but raw is append-only and is never checked again:
    a row loaded under an older contract (before 2.7.0 every currency had the range 10^12)
    stays loaded, and 999,999,999,999 USD converted into JPY overflows the models. -#}
{% macro recon_row_past_amount_range(table_name, alias='raw_rows') -%}
    {%- set columns = recon_amount_columns(table_name) -%}
    {%- if not columns -%}
        {{ exceptions.raise_compiler_error("recon_row_past_amount_range: raw table '" ~ table_name ~ "' has no amount column with a per-currency range (recon_amount_columns)") }}
    {%- endif -%}
    coalesce(
        {%- for column in columns %}
        abs(cast({{ alias }}.{{ column }} as decimal(38, 4))) >= {{ recon_amount_limit(alias ~ '.currency') }}
        {%- if not loop.last %} or{% endif %}
        {%- endfor %},
        false
    )
{%- endmacro %}


{#- The keys of a raw table's current rows (current_raw_rows) of which a row is past its
    currency's range. -#}
{% macro recon_keys_past_amount_range(source_name, table_name, key_sql) -%}
    select {{ key_sql }}
    from ({{ current_raw_rows(source_name, table_name) }}) as raw_rows
    where {{ key_sql }} is not null
        and {{ recon_row_past_amount_range(table_name) }}
{%- endmacro %}


{#- Appended to current_raw_rows(...) in a staging model's source CTE: holds out every key with
    a current row past its currency's range, whichever version of the key it is (an older
    version would otherwise stand in for it). stg_ingestion__amounts_past_range lists them,
    int_amounts_out_of_range raises them (amount_out_of_range); their rows stay in raw and are
    counted as loaded. Restating the file that holds the row (corrected, at its path) releases
    the key. -#}
{% macro recon_hold_out_past_amount_range(source_name, table_name, key_sql) -%}
        -- Held out: a current row past its currency's range, loaded under an older contract.
        and {{ key_sql }} not in ({{ recon_keys_past_amount_range(source_name, table_name, key_sql) }})
{%- endmacro %}
