{#-
  Text and pattern functions whose names or arguments differ between DuckDB and Spark SQL. Patterns are
  written once, in the regex syntax RE2 (DuckDB) and Java (Spark) share, without backslashes: DuckDB reads
  string literals raw, Spark unescapes them ([.] matches a dot on both).
-#}

{#- Whether the pattern matches somewhere in expr. -#}
{% macro costlake_regexp_matches(expr, pattern) -%}
  {{ return(adapter.dispatch('costlake_regexp_matches', 'costlake')(expr, pattern)) }}
{%- endmacro %}

{% macro default__costlake_regexp_matches(expr, pattern) -%}
  regexp_matches({{ expr }}, {{ pattern }})
{%- endmacro %}

{% macro spark__costlake_regexp_matches(expr, pattern) -%}
  ({{ expr }} rlike {{ pattern }})
{%- endmacro %}

{#- Whether the pattern matches all of expr. -#}
{% macro costlake_regexp_full_match(expr, pattern) -%}
  {{ return(adapter.dispatch('costlake_regexp_full_match', 'costlake')(expr, pattern)) }}
{%- endmacro %}

{% macro default__costlake_regexp_full_match(expr, pattern) -%}
  regexp_full_match({{ expr }}, {{ pattern }})
{%- endmacro %}

{% macro spark__costlake_regexp_full_match(expr, pattern) -%}
  ({{ expr }} rlike concat('^(?:', {{ pattern }}, ')$'))
{%- endmacro %}

{#- Every match replaced; the replacement names groups \1, \2 ... (Spark's $1 is derived). -#}
{% macro costlake_regexp_replace_all(expr, pattern, replacement) -%}
  {{ return(adapter.dispatch('costlake_regexp_replace_all', 'costlake')(expr, pattern, replacement)) }}
{%- endmacro %}

{% macro default__costlake_regexp_replace_all(expr, pattern, replacement) -%}
  regexp_replace({{ expr }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{% macro spark__costlake_regexp_replace_all(expr, pattern, replacement) -%}
  regexp_replace({{ expr }}, {{ pattern }}, {{ modules.re.sub('\\\\([0-9])', '$\\1', replacement) }})
{%- endmacro %}

{#- A DECIMAL(38,18) as text with all 18 decimals, as DuckDB writes it ('1.500000000000000000'): Spark's
    cast writes '0E-18' and '1.00000000000E-7'. Used where text of a number becomes part of a key. -#}
{% macro costlake_decimal_text(expr) -%}
  {{ return(adapter.dispatch('costlake_decimal_text', 'costlake')(expr)) }}
{%- endmacro %}

{% macro default__costlake_decimal_text(expr) -%}
  cast(cast({{ expr }} as decimal(38,18)) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro spark__costlake_decimal_text(expr) -%}
  replace(format_number(cast({{ expr }} as decimal(38,18)), 18), ',', '')
{%- endmacro %}

{#- select * of several relations, matched by column name (a column a relation lacks is NULL): bronze files
    written by different connector versions may differ in optional columns. -#}
{% macro costlake_union_all_by_name(relations) -%}
  {{ return(adapter.dispatch('costlake_union_all_by_name', 'costlake')(relations)) }}
{%- endmacro %}

{% macro default__costlake_union_all_by_name(relations) -%}
  {%- for relation in relations %}
    select * from {{ relation }}
    {% if not loop.last %}union all by name{% endif %}
  {%- endfor %}
{%- endmacro %}

{% macro spark__costlake_union_all_by_name(relations) -%}
  {%- set names, types, present = [], {}, [] -%}
  {%- for relation in relations -%}
    {%- set columns = {} -%}
    {%- if execute -%}
      {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do columns.update({column.name | lower: column.name}) -%}
        {%- if column.name | lower not in types -%}
          {%- do names.append(column.name) -%}
          {%- do types.update({column.name | lower: column.data_type}) -%}
        {%- endif -%}
      {%- endfor -%}
    {%- endif -%}
    {%- do present.append(columns) -%}
  {%- endfor -%}
  {%- for relation in relations %}
    {%- set columns = present[loop.index0] %}
    select
    {%- if not names %} *
    {%- else %}
      {%- for name in names %}
        {% if name | lower in columns %}`{{ columns[name | lower] }}`{% else %}cast(null as {{ types[name | lower] }}){% endif %} as `{{ name }}`{{ "," if not loop.last }}
      {%- endfor %}
    {%- endif %}
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
  {%- endfor %}
{%- endmacro %}
