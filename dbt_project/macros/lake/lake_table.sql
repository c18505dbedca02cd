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
{#- <home>/build/output/<model>/<x_AccountKey=...>/<x_BillingMonth=...>/part_0.parquet (or, for a build of
    one partition, <home>/build/output/<model>.single.parquet), and <home>/build/output/<model>.schema.parquet.
    costlake creates <home>/build/output/ fresh for every build. -#}
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
  {%- set files = run_query("select file from glob('" ~ location ~ "/**/*.parquet') union all select file from glob('"
                             ~ location ~ ".single.parquet')").columns[0].values() -%}
  {% call statement('main') -%}
    create or replace view {{ target_relation }} as
    select * from read_parquet(
      [{{ "'" ~ location ~ ".schema.parquet'" }}{% for file in files %}, '{{ file }}'{% endfor %}],
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

{#-
  One planned partition (the everyday restatement): one plain COPY to <model>.single.parquet. Several: one
  COPY with PARTITION_BY, which buffers per partition (measured ~20 % slower on one partition of 10M rows).
  costlake writes the plan to <home>/build/inputs/partitions.json before dbt runs.
-#}
{% macro duckdb__costlake_lake_write(select_sql, location) -%}
  {%- set planned = run_query("select count(*) from read_json('" ~ env_var('COSTLAKE_HOME')
                               ~ "/build/inputs/partitions.json')").columns[0].values()[0] -%}
  {%- call statement('lake_schema') -%}
    copy (select * from ({{ select_sql }}) as model limit 0) to '{{ location }}.schema.parquet' (format parquet)
  {%- endcall -%}
  {%- if planned == 1 -%}
    {%- call statement('lake_data') -%}
      copy ({{ select_sql }}) to '{{ location }}.single.parquet' (
        format parquet, compression zstd, row_group_size 122880
      )
    {%- endcall -%}
  {%- else -%}
    {%- call statement('lake_data') -%}
      copy ({{ select_sql }}) to '{{ location }}' (
        format parquet, compression zstd, row_group_size 122880,
        partition_by (x_AccountKey, x_BillingMonth), write_partition_columns true,
        overwrite_or_ignore true, filename_pattern 'part_{i}'
      )
    {%- endcall -%}
  {%- endif -%}
{%- endmacro %}
