{#- Resolve a normalised name to a client through int_client_name_keys: the whole name
    with spaces squeezed out first, then its first two words, then its first word ("Nguyen
    Conversions Aug 25" → "nguyen" when only one client starts so). Short forms are how
    campaigns and project tools name clients; a billed name is a full name, looked up whole
    (`by_first_words=false`), so an unknown "Tamworth Dental Ltd" is not taken for
    "Tamworth Solar". `by_abbreviation=true` also resolves a name that abbreviates words of
    one client's name to their initials ("H. & Patel" for Hughes & Patel, "D. Interiors
    Holdings" for Dubois Interiors: client_abbreviated_key); when two clients abbreviate
    alike ("N. Toys" for Northgate Toys and Novak Toys) it resolves to none.
    `by_core=true` (a billed name, which no client's name claims whole, known or shared)
    looks the name up once more without the legal form or billing department
    normalise_client_name leaves on it ("Ravi Moretti Veterinary" for Ravi Moretti Veterinary
    LLP, "Copper Homes - Accounts Payable": client_name_core), and, where that is two to
    four letters, as the initials of one client ("EH Limited", "GDF GmbH & Co. KG");
    initials two clients share ("KR": Kelso Recruitment, Kingsbridge Roofing) resolve to
    none. It needs int_client_names imported as `client_names`. Use
    `client_lookup_joins(name, 'x')` among the joins (the keys model imported as
    `client_name_keys`) and `client_lookup_id('x')` for the client id. -#}
{% macro client_lookup_joins(name_expression, alias, by_first_words=true, by_abbreviation=false, by_core=false) -%}
    left join client_name_keys as {{ alias }}_full
        on replace({{ name_expression }}, ' ', '') = {{ alias }}_full.name_key
    {%- if by_first_words %}
    left join client_name_keys as {{ alias }}_two
        on split_part({{ name_expression }}, ' ', 3) <> ''
        and split_part({{ name_expression }}, ' ', 1) || split_part({{ name_expression }}, ' ', 2) = {{ alias }}_two.name_key
    left join client_name_keys as {{ alias }}_one
        on split_part({{ name_expression }}, ' ', 2) <> ''
        and split_part({{ name_expression }}, ' ', 1) = {{ alias }}_one.name_key
    {%- else %}
    left join (select cast(null as string) as client_id) as {{ alias }}_two on false
    left join (select cast(null as string) as client_id) as {{ alias }}_one on false
    {%- endif %}
    {%- if by_abbreviation %}
    left join client_name_keys as {{ alias }}_abbr
        on {{ client_abbreviated_key(name_expression) }} = {{ alias }}_abbr.name_key
        and {{ alias }}_abbr.key_kind = 'abbreviated'
    {%- else %}
    left join (select cast(null as string) as client_id) as {{ alias }}_abbr on false
    {%- endif %}
    {%- if by_core %}
    {%- set unclaimed -%}
        -- Only a name no client's name claims whole: a name two clients share stays theirs.
        and not exists (
            select 1 from client_names
            where replace(client_names.name_normalised, ' ', '') = replace({{ name_expression }}, ' ', '')
        )
    {%- endset %}
    -- Two to four letters are initials, whatever else they may be the core of: "LBS DAC"
    -- is not LBS GmbH & Co. KG's when "lbs" is also Lukas Bergstrom Skincare's initials.
    left join client_name_keys as {{ alias }}_core
        on {{ alias }}_core.name_key = case
            when {{ recon_regexp_full_match(client_name_core(name_expression), '[a-z]{2,4}') }}
            then 'initials:' || {{ client_name_core(name_expression) }}
            else 'core:' || replace({{ client_name_core(name_expression) }}, ' ', '')
        end
        {{ unclaimed }}
    {%- else %}
    left join (select cast(null as string) as client_id) as {{ alias }}_core on false
    {%- endif %}
{%- endmacro %}

{% macro client_lookup_id(alias) -%}
    coalesce(
        {{ alias }}_full.client_id, {{ alias }}_two.client_id, {{ alias }}_one.client_id,
        {{ alias }}_abbr.client_id, {{ alias }}_core.client_id
    )
{%- endmacro %}
