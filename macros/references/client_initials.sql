{#- The initials of a normalised client name, as project tools and spreadsheets abbreviate
    clients: "lindqvist and nguyen" is "ln", "westbury florists" is "wf". Joining words and
    legal forms ("and", "of", "llp", "group") are skipped. Null for a one-word name (its
    initial alone says too little). -#}
{% macro client_initials(expression) -%}
    case
        when {{ expression }} like '% %' then
            nullif(array_to_string(list_transform(
                list_filter(
                    string_split({{ expression }}, ' '),
                    lambda word: word not in ('and', 'of', 'the', 'llp', 'lp', 'group', 'holdings', '')
                ),
                lambda word: left(word, 1)
            ), ''), '')
    end
{%- endmacro %}
