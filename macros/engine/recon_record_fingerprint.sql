{#- What an operator saw of a record when linking it by hand: an md5 of the side's spec
    columns (the fields every pass and comparison reads), in field order, on a relation
    that already carries them by name. The same record gives the same text in the pairs,
    the records and the published copy, so a link whose record changed since can be told
    apart from one that still holds (int_operator_links, recon_pairs). Columns the side
    lists under `context_columns` are left out: they describe the record's neighbours (how
    many items its invoice carries), not the record, and adding one to a spec must not
    suspend every link an operator made. -#}
{% macro recon_record_fingerprint(side_spec, relation) -%}
    md5(concat_ws('|'
        {%- for field in side_spec.columns | sort if field not in side_spec.get('context_columns', []) %},
        coalesce(cast({{ relation }}.{{ field }} as string), {{ recon_text_literal('\\u2205') }})
        {%- endfor %}))
{%- endmacro %}
