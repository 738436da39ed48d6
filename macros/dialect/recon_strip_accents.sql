{#- The text with accents removed ("é" -> "e"). Spark has no such function: Latin letters
    with the common diacritics are mapped by translate(); rarer marks stay. -#}
{% macro recon_strip_accents(expression) -%}
    {{ return(adapter.dispatch('recon_strip_accents', 'recon')(expression)) }}
{%- endmacro %}

{% macro default__recon_strip_accents(expression) -%}
    strip_accents({{ expression }})
{%- endmacro %}

{% macro spark__recon_strip_accents(expression) -%}
    translate({{ expression }},
        'ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿŠšŽžČčĆćŁłŃńŚśŹźŻżĞğŞşİı',
        'AAAAAAaaaaaaCcEEEEeeeeIIIIiiiiNnOOOOOOooooooUUUUuuuuYyySsZzCcCcLlNnSsZzZzGgSsIi')
{%- endmacro %}
