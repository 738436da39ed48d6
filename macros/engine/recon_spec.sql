{#- The spec of reconciliation `name` (macro spec__<name> in macros/specs/),
    checked for the keys the engine needs so a typo fails at compile time with a message. -#}
{% macro recon_spec(name) %}
    {%- set spec_macro = context.get('spec__' ~ name) -%}
    {%- if spec_macro is none -%}
        {{ exceptions.raise_compiler_error(
            "No reconciliation spec '" ~ name ~ "': add a macro spec__" ~ name ~ " in macros/specs/") }}
    {%- endif -%}
    {%- set spec = spec_macro() -%}
    {%- for key in ['name', 'rule_version', 'left', 'right', 'deterministic', 'blocking', 'comparisons', 'thresholds', 'assignment'] -%}
        {%- if key not in spec -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "' lacks '" ~ key ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for side in ['left', 'right'] -%}
        {%- for key in ['model', 'key', 'columns'] -%}
            {%- if key not in spec[side] -%}
                {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': " ~ side ~ " lacks '" ~ key ~ "'") }}
            {%- endif -%}
        {%- endfor -%}
        {%- for column in spec[side].get('context_columns', []) -%}
            {%- if column not in spec[side].columns -%}
                {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': " ~ side
                    ~ ".context_columns names '" ~ column ~ "', which is not one of its columns") }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for pass in spec.deterministic -%}
        {%- set join_any = pass.get('join_any') -%}
        {%- if join_any is not none and (join_any is string or join_any is mapping or join_any | length == 0) -%}
            {{ exceptions.raise_compiler_error(
                "Reconciliation spec '" ~ name ~ "': pass '" ~ pass.name
                ~ "': join_any must be a non-empty list of SQL equalities on left_records and right_records") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for comparison in spec.comparisons -%}
        {%- if comparison.field not in spec.left.columns or comparison.field not in spec.right.columns -%}
            {{ exceptions.raise_compiler_error(
                "Reconciliation spec '" ~ name ~ "': comparison field '" ~ comparison.field
                ~ "' must be a column of both left and right") }}
        {%- endif -%}
        {%- if comparison.method not in ['exact', 'edit_distance', 'similarity', 'amount', 'days_between'] -%}
            {{ exceptions.raise_compiler_error(
                "Reconciliation spec '" ~ name ~ "': unknown comparison method '" ~ comparison.method
                ~ "' (use exact, edit_distance, similarity, amount or days_between)") }}
        {%- endif -%}
        {%- if comparison.get('same_family') and comparison.method != 'edit_distance' -%}
            {{ exceptions.raise_compiler_error(
                "Reconciliation spec '" ~ name ~ "': comparison '" ~ comparison.field
                ~ "': same_family applies to edit_distance on canonical references only") }}
        {%- endif -%}
        {%- if comparison.get('left_bare_is_own_family') and not comparison.get('same_family') -%}
            {{ exceptions.raise_compiler_error(
                "Reconciliation spec '" ~ name ~ "': comparison '" ~ comparison.field
                ~ "': left_bare_is_own_family needs same_family") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(spec) }}
{% endmacro %}
