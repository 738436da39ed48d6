{#- Days from the left record's date to the right record's (positive when the right is
    later). When the left side has a `date_end` column (a service period), a right date
    inside [date, date_end] is 0 days away, one before it counts from `date` (negative) and
    one after it from `date_end`: a retainer invoiced monthly across a year is "in period",
    not 300 days early. -#}
{% macro recon_date_gap(spec, left, right) -%}
    {%- if 'date_end' in spec.left.columns -%}
    case
        when {{ right }}.date < {{ left }}.date then {{ recon_days_between(left ~ '.date', right ~ '.date') }}
        when {{ right }}.date > {{ left }}.date_end then {{ recon_days_between(left ~ '.date_end', right ~ '.date') }}
        else 0
    end
    {%- else -%}
    {{ recon_days_between(left ~ '.date', right ~ '.date') }}
    {%- endif -%}
{%- endmacro %}
