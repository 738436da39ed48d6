{#- Edit distance between two texts: insertions, deletions, substitutions and transpositions
    of adjacent characters, each one edit (Damerau–Levenshtein, as DuckDB's
    damerau_levenshtein: a transposed pair may also have characters inserted between).
    Typed references swap neighbouring digits ("NF24-3631" for "NF24-3361") as often as
    they change one. -#}
{% macro recon_edit_distance(a, b) -%}
    {{ return(adapter.dispatch('recon_edit_distance', 'recon')(a, b)) }}
{%- endmacro %}

{% macro default__recon_edit_distance(a, b) -%}
    levenshtein({{ a }}, {{ b }})
{%- endmacro %}

{% macro duckdb__recon_edit_distance(a, b) -%}
    damerau_levenshtein({{ a }}, {{ b }})
{%- endmacro %}

{#- Spark has only Levenshtein, which counts a swap of neighbours as two edits: a reference
    with two digits swapped was one edit on DuckDB and two on Spark, a weaker level (seen on
    the test-spark fixture). The same distance in SQL (Lowrance–Wagner): rows of the table
    d(i, j) over the prefixes of `a` and `b`, each row built cell by cell. A transposition
    goes back to the last row i1 < i whose character is b[j] and the last column j1 < j
    whose character is a[i]: d(i1 - 1, j1 - 1) + (i - i1 - 1) + 1 + (j - j1 - 1). Up to
    one edit Levenshtein is the same distance, and Spark's own is taken. -#}
{% macro spark__recon_edit_distance(a, b) -%}
    {%- set la = 'length(' ~ a ~ ')' -%}
    {%- set lb = 'length(' ~ b ~ ')' -%}
    case
        when {{ a }} is null or {{ b }} is null then null
        when levenshtein({{ a }}, {{ b }}) <= 1 or {{ la }} < 2 or {{ lb }} < 2 then levenshtein({{ a }}, {{ b }})
        else element_at(element_at(aggregate(
            sequence(1, {{ la }}),
            array(sequence(0, {{ lb }})),
            (dl_rows, dl_i) -> concat(dl_rows, array(aggregate(
                sequence(1, {{ lb }}),
                array(dl_i),
                (dl_row, dl_j) -> concat(dl_row, array(least(
                    element_at(element_at(dl_rows, dl_i), dl_j + 1) + 1,
                    element_at(dl_row, dl_j) + 1,
                    element_at(element_at(dl_rows, dl_i), dl_j)
                        + case when substr({{ a }}, dl_i, 1) = substr({{ b }}, dl_j, 1) then 0 else 1 end,
                    aggregate(
                        array(named_struct(
                            'i1', case when dl_i > 1 then coalesce(array_max(filter(
                                sequence(1, dl_i - 1), dl_k -> substr({{ a }}, dl_k, 1) = substr({{ b }}, dl_j, 1))), 0)
                                else 0 end,
                            'j1', case when dl_j > 1 then coalesce(array_max(filter(
                                sequence(1, dl_j - 1), dl_l -> substr({{ b }}, dl_l, 1) = substr({{ a }}, dl_i, 1))), 0)
                                else 0 end)),
                        {{ la }} + {{ lb }},
                        (dl_none, dl_t) -> case when dl_t.i1 > 0 and dl_t.j1 > 0
                            then element_at(element_at(dl_rows, dl_t.i1), dl_t.j1)
                                + (dl_i - dl_t.i1 - 1) + 1 + (dl_j - dl_t.j1 - 1)
                            else dl_none end
                    )
                )))
            )))
        ), {{ la }} + 1), {{ lb }} + 1)
    end
{%- endmacro %}
