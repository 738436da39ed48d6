{#- A select of (`id_column`, client_id): the first part of `text_column` that names
    exactly one known client, in reading order. The text is cut at ":", "|", "(", ")",
    "[", "]", "_", dashes with spaces around them, and "–" / "—"; words holding three or
    more digits (references, dates) are dropped first. "Hughes Studios: Always-on social",
    "Product photography (Yates)", "[IO-013676] Acme - Prospecting" name Hughes Studios,
    Yates and Acme when those names (or their first words) identify one client. Needs the
    keys model imported as `client_name_keys`. -#}
{% macro client_named_in_text(relation, id_column, text_column) -%}
    select
        segmented.{{ id_column }},
        {{ recon_arg_min(client_lookup_id('segment_key'), 'segmented.position') }} as client_id
    from (
        -- Each segment normalised once, here: three lookup joins read it.
        select
            unnested.{{ id_column }},
            unnested.position,
            {{ normalise_client_name('unnested.segment') }} as segment_normalised
        from (
        select
            {{ relation }}.{{ id_column }},
            {{ recon_unnest_with_position('parts', 'segment', 'position') }}
        from (
            select
                {{ relation }}.{{ id_column }},
                {{ recon_list_transform(
                    recon_string_split_regex(relation ~ '.' ~ text_column, '\\s*[:|()\\[\\]_–—]\\s*|\\s+-\\s+'),
                    'part', "trim(" ~ regexp_replace_all('part', '\\S*[0-9]{3,}\\S*', '') ~ ")"
                ) }} as parts
            from {{ relation }}
            where {{ relation }}.{{ text_column }} is not null
        ) as {{ relation }}
        ) as unnested
    ) as segmented
    {{ client_lookup_joins('segmented.segment_normalised', 'segment_key') }}
    where {{ client_lookup_id('segment_key') }} is not null
    group by segmented.{{ id_column }}
{%- endmacro %}
