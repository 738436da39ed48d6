{#- Similarity of two texts in [0, 1] (Jaro–Winkler where the engine has it). -#}
{% macro recon_string_similarity(a, b) -%}
    {{ return(adapter.dispatch('recon_string_similarity', 'recon')(a, b)) }}
{%- endmacro %}

{% macro default__recon_string_similarity(a, b) -%}
    jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}

{#- Spark has no Jaro–Winkler: the same measure as DuckDB's jaro_winkler_similarity, in
    SQL. Characters match within max(len) / 2 - 1 positions, each of `b` at most once, in
    order of `a` (greedy); t is half the matched characters out of order; Jaro is
    (m / len(a) + m / len(b) + (m - t) / m) / 3, and above 0.7 it is raised by 0.1 per
    character of common prefix (at most 4) times what it lacks of 1. -#}
{% macro spark__recon_string_similarity(a, b) -%}
    {%- set la = 'length(' ~ a ~ ')' -%}
    {%- set lb = 'length(' ~ b ~ ')' -%}
    {%- set w = 'greatest(0, floor(greatest(' ~ la ~ ', ' ~ lb ~ ') / 2) - 1)' -%}
    case
        when {{ a }} is null or {{ b }} is null then null
        when {{ la }} = 0 or {{ lb }} = 0 then cast(0 as double)
        else aggregate(
            sequence(1, {{ la }}),
            named_struct('used', array_repeat(false, {{ lb }}), 'm1', cast(array() as array<string>)),
            (jw_acc, jw_i) -> aggregate(
                array(try_element_at(filter(
                    case when greatest(1, jw_i - {{ w }}) <= least({{ lb }}, jw_i + {{ w }})
                        then sequence(cast(greatest(1, jw_i - {{ w }}) as int), cast(least({{ lb }}, jw_i + {{ w }}) as int))
                        else cast(array() as array<int>) end,
                    jw_j -> substr({{ b }}, jw_j, 1) = substr({{ a }}, jw_i, 1) and not jw_acc.used[jw_j - 1]
                ), 1)),
                jw_acc,
                (jw_acc2, jw_hit) -> case when jw_hit is null then jw_acc2 else named_struct(
                    'used', transform(jw_acc2.used, (jw_u, jw_k) -> jw_u or jw_k + 1 = jw_hit),
                    'm1', array_append(jw_acc2.m1, substr({{ a }}, jw_i, 1))) end
            ),
            jw_acc -> aggregate(
                array(named_struct(
                    'm', size(jw_acc.m1),
                    't', size(filter(
                        zip_with(jw_acc.m1,
                            filter(transform(sequence(1, {{ lb }}), jw_j -> case when jw_acc.used[jw_j - 1] then substr({{ b }}, jw_j, 1) end), jw_c -> jw_c is not null),
                            (jw_x, jw_y) -> jw_x != jw_y),
                        jw_d -> jw_d)) / 2.0D)),
                cast(0 as double),
                (jw_zero, jw_s) -> case when jw_s.m = 0 then cast(0 as double) else
                    (jw_s.m / {{ la }} + jw_s.m / {{ lb }} + (jw_s.m - jw_s.t) / jw_s.m) / 3.0D end,
                jw_jaro -> case when jw_jaro > 0.7D then jw_jaro + size(filter(
                    sequence(1, least(4, {{ la }}, {{ lb }})),
                    jw_p -> substr({{ a }}, 1, jw_p) = substr({{ b }}, 1, jw_p))) * 0.1D * (1 - jw_jaro)
                    else jw_jaro end
            )
        )
    end
{%- endmacro %}
