{#- The initials of a normalised client name, as project tools and spreadsheets abbreviate
    clients: "lindqvist and nguyen" is "ln", "westbury florists" is "wf". Joining words and
    legal forms ("and", "of", "llp", "group") are skipped. Null for a one-word name (its
    initial alone says too little). -#}
{% macro client_initials(expression) -%}
    case
        when {{ expression }} like '% %' then
            nullif({{ recon_list_join(recon_list_transform(client_name_words(expression), 'word', 'left(word, 1)'), "''") }}, '')
    end
{%- endmacro %}

{#- The words of a normalised client name that its initials and abbreviations keep: joining
    words and legal forms ("and", "of", "llp", "group", "holdings") are skipped. -#}
{% macro client_name_words(expression) -%}
    {{ recon_list_filter(recon_string_split(expression, "' '"), 'word', "word not in ('and', 'of', 'the', 'llp', 'lp', 'group', 'holdings', '')") }}
{%- endmacro %}

{#- The lookup key of a normalised name that abbreviates some of its words to their initial
    and spells out at least one: "h and patel" is "h.patel", "d interiors holdings" is
    "d.interiors". Null for a name with no one-letter word or none of two letters or more
    (all initials: client_initials). int_client_name_keys gives each client name's
    abbreviations the same form ("hughes and patel": "h.patel", "hughes.p"). -#}
{% macro client_abbreviated_key(expression) -%}
    case
        when {{ recon_list_any(client_name_words(expression), 'word', 'length(word) = 1') }}
            and {{ recon_list_any(client_name_words(expression), 'word', 'length(word) >= 2') }}
        then {{ recon_list_join(client_name_words(expression), "'.'") }}
    end
{%- endmacro %}

{#- A normalised name without the legal form or billing department that normalise_client_name
    leaves on it: forms it does not strip ("llp", "lp", "dac", "kg"), forms joined by "and"
    ("gmbh and co kg" for "GmbH & Co. KG", "and co"), and "accounts payable". "ravi moretti
    veterinary llp" is "ravi moretti veterinary", "george dubois fashion gmbh and co kg" is
    "george dubois fashion", "copper homes accounts payable" is "copper homes". The name
    itself when nothing is left. Two clients may share a core ("pwa llp" and "pwa"): a key
    built from it names a client only when it names one (int_client_name_keys). -#}
{% macro client_name_core(expression) -%}
    {%- set forms = [
        'ltd', 'limited', 'llc', 'inc', 'incorporated', 'corp', 'corporation', 'co', 'company',
        'gmbh', 'ag', 'sa', 'sarl', 'sas', 'bv', 'nv', 'plc', 'pty', 'srl', 'spa', 'oy', 'ab',
        'kg', 'llp', 'lp', 'dac', 'accounts payable'
    ] -%}
    coalesce(
        nullif(trim({{ regexp_replace_all("' ' || " ~ expression, '( (and )?(' ~ (forms | join('|')) ~ '))+$', '') }}), ''),
        {{ expression }}
    )
{%- endmacro %}
