{#
  `with x as {{ inline_cte() }} (...)`: ask the engine to inline a CTE that several later CTEs read.
  DuckDB materializes a CTE referenced more than once, i.e. writes every column of a month of line items
  to a temporary table before reading it back (measured: ~100 s CPU at 10M rows for int_aws__focus).
  Spark and most engines inline CTEs anyway and do not know the keyword, so the default is empty.
#}
{% macro inline_cte() %}
    {{ return(adapter.dispatch('inline_cte', 'costlake')()) }}
{% endmacro %}

{% macro default__inline_cte() %}{% endmacro %}

{% macro duckdb__inline_cte() %}not materialized{% endmacro %}
