{#-
  materialized='lake_table': a model whose rows are partitioned by (x_AccountKey, x_BillingMonth), the
  unit costlake builds, checks and publishes. dbt writes the partitions it was given (the bronze files
  linked into <home>/build/inputs) as Parquet under <home>/build/output/<model>/ and creates a view over
  them, so tests and downstream models read what was written. costlake then checks each partition and
  publishes the passing ones into the lake (orchestration/warehouse/): dbt never writes the lake itself.

  One COPY straight to Parquet: the rows never go through a DuckDB table (a table write of `costs` cost
  twice the Parquet write at 10M rows, bench/RESULTS.md). A `<model>.schema.parquet` with zero rows and the
  model's exact column types sits beside the data, so the view (and the published warehouse) has the
  right schema even when a partition set writes no rows. Contracts are enforced as for a table.
-#}
{#- <home>/build/output/<model>/<x_AccountKey=...>/<x_BillingMonth=...>/part_0.parquet, and
    <home>/build/output/<model>.schema.parquet. costlake creates <home>/build/output/ fresh for every build. -#}
{% macro lake_output_location(identifier) -%}
  {{- env_var('COSTLAKE_HOME') ~ '/build/output/' ~ identifier -}}
{%- endmacro %}

{% materialization lake_table, adapter='duckdb' %}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set location = lake_output_location(this.identifier) -%}
  {%- set contract_config = config.get('contract') -%}
  {%- set select_sql = sql -%}
  {%- if contract_config and contract_config.enforced -%}
    {{- get_assert_columns_equivalent(sql) -}}
    {%- set select_sql = get_select_subquery(sql) -%}
  {%- endif -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {{ costlake_lake_write(select_sql, location) }}

  {%- if existing_relation is not none and existing_relation.type != 'view' -%}
    {{ drop_relation_if_exists(existing_relation) }}
  {%- endif -%}
  {%- set written = run_query("select count(*) from glob('" ~ location ~ "/**/*.parquet')").columns[0].values()[0] -%}
  {% call statement('main') -%}
    create or replace view {{ target_relation }} as
    select * from read_parquet(
      [{{ "'" ~ location ~ ".schema.parquet'" }}{{ (", '" ~ location ~ "/**/*.parquet'") if written > 0 else "" }}],
      union_by_name = true, hive_partitioning = false
    )
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{% macro costlake_lake_write(select_sql, location) -%}
  {{ return(adapter.dispatch('costlake_lake_write', 'costlake')(select_sql, location)) }}
{%- endmacro %}

{% macro duckdb__costlake_lake_write(select_sql, location) -%}
  {%- call statement('lake_schema') -%}
    copy (select * from ({{ select_sql }}) as model limit 0) to '{{ location }}.schema.parquet' (format parquet)
  {%- endcall -%}
  {%- call statement('lake_data') -%}
    copy ({{ select_sql }}) to '{{ location }}' (
      format parquet, compression zstd, row_group_size 122880,
      partition_by (x_AccountKey, x_BillingMonth), write_partition_columns true,
      overwrite_or_ignore true, filename_pattern 'part_{i}'
    )
  {%- endcall -%}
{%- endmacro %}
