{#- Unit-test fixtures write a list as DuckDB reads it, "['a', 'b']" or "[a, b]"; dbt-spark's
    safe_cast would paste that text into cast(... as array<...>). Here such a value becomes
    array('a', 'b') (unquoted text elements of an array<string> quoted); any other value
    is cast as dbt-spark does. -#}
{% macro spark__safe_cast(field, type) %}
{%- set unsupported = cast_from_string_unsupported_for(type) and field is string -%}
{%- set field_clean = field.strip('"').strip("'") if unsupported else field -%}
{%- if unsupported and type.lower().startswith('array') and field_clean.startswith('[') and field_clean.endswith(']') -%}
    {%- set inner = field_clean[1:-1] | replace("\\'", "'") | trim -%}
    {%- set elements = [] -%}
    {%- if inner -%}
        {%- for element in inner.split(',') -%}
            {%- set element = element | trim -%}
            {%- if type.lower() == 'array<string>' and not element.startswith("'") and element | lower != 'null' -%}
                {%- do elements.append("'" ~ element ~ "'") -%}
            {%- else -%}
                {%- do elements.append(element) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
cast(array({{ elements | join(', ') }}) as {{ type }})
{%- else -%}
cast({{ field_clean }} as {{ type }})
{%- endif -%}
{% endmacro %}
