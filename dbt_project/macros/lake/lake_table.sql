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

{#-
  The same on Spark (docs/scale-out.md): the model's partitions as Parquet under
  <build>/output/<model>/lake_source=<x_AccountKey>/lake_month=<x_BillingMonth>/part-*.parquet and a
  zero-row <model>.schema.parquet/ folder. Spark writes a partition column into the folder name only, so
  the partitions are written by copies of x_AccountKey and x_BillingMonth and every data file keeps the
  two columns themselves (costlake's collect() reads both layouts, orchestration/warehouse/build.py).
  The writes are CREATE TABLE ... LOCATION ... AS SELECT (external tables: dropping one keeps its files);
  the model's own relation is a view over the data table with the model's columns.
-#}
{% materialization lake_table, adapter='spark' %}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set data_relation = costlake_lake_relation('data') -%}
  {%- set schema_relation = costlake_lake_relation('schema') -%}
  {%- set location = costlake_spark_build_uri() ~ '/output/' ~ this.identifier -%}
  {%- set select_sql = costlake_spark_sql(sql) -%}
  {%- set contract_config = config.get('contract') -%}
  {%- if contract_config and contract_config.enforced -%}
    {%- do costlake_spark_assert_contract(select_sql) -%}
    {%- set select_sql = get_select_subquery(select_sql) -%}
  {%- endif -%}

  {{ run_hooks(pre_hooks) }}
  {{ costlake_lake_write(select_sql, location) }}
  {%- set columns = adapter.get_columns_in_relation(schema_relation) -%}
  {% call statement('main') -%}
    create or replace view {{ target_relation }} as
    select {% for column in columns %}`{{ column.name }}`{{ ", " if not loop.last }}{% endfor %}
    from {{ data_relation }}
  {%- endcall %}
  {{ run_hooks(post_hooks) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{#- The contract of a lake table on Spark: dbt's own check casts to the yml's types on the engine, and
    Spark has no VARCHAR without a length; Spark's names for them are compared instead. -#}
{% macro costlake_spark_assert_contract(sql) -%}
  {%- set spark_names = {'varchar': 'string', 'text': 'string', 'timestamp': 'timestamp_ntz',
                         'integer': 'int', 'boolean': 'boolean'} -%}
  {%- set expected = [] -%}
  {%- for column in model['columns'].values() -%}
    {%- set kind = (column['data_type'] or '') | lower | replace(' ', '') -%}
    {#- x_Tags: map(varchar, varchar) in the yml (DuckDB's spelling), map<string,string> on Spark -#}
    {%- if kind.startswith('map(') -%}
      {%- set kind = kind | replace('map(', 'map<') | replace(')', '>') | replace('varchar', 'string') -%}
    {%- endif -%}
    {%- do expected.append((column['name'] | lower) ~ ' ' ~ spark_names.get(kind, kind)) -%}
  {%- endfor -%}
  {%- set found = [] -%}
  {%- for column in get_column_schema_from_query(sql) -%}
    {%- do found.append((column.name | lower) ~ ' ' ~ (column.dtype | lower | replace(' ', ''))) -%}
  {%- endfor -%}
  {%- if expected | sort != found | sort -%}
    {%- set missing = [] -%}{%- set extra = [] -%}
    {%- for item in expected -%}{%- if item not in found -%}{%- do missing.append(item) -%}{%- endif -%}{%- endfor -%}
    {%- for item in found -%}{%- if item not in expected -%}{%- do extra.append(item) -%}{%- endif -%}{%- endfor -%}
    {{ exceptions.raise_compiler_error("Contract of " ~ this ~ " (its yml columns) does not match its SQL on Spark: "
       ~ "expected but not produced: " ~ (missing | join(', ') or 'none') ~ "; produced but not expected: "
       ~ (extra | join(', ') or 'none')) }}
  {%- endif -%}
{%- endmacro %}

{#- The tables a Spark lake_table writes through: <model>__lake_data, <model>__lake_schema. -#}
{% macro costlake_lake_relation(kind) -%}
  {{ return(this.incorporate(path={'identifier': this.identifier ~ '__lake_' ~ kind}, type='table')) }}
{%- endmacro %}

{% macro spark__costlake_lake_write(select_sql, location) -%}
  {%- set data_relation = costlake_lake_relation('data') -%}
  {%- set schema_relation = costlake_lake_relation('schema') -%}
  {%- call statement('lake_drop') -%}
    drop table if exists {{ data_relation }}
  {%- endcall -%}
  {%- call statement('lake_drop_schema') -%}
    drop table if exists {{ schema_relation }}
  {%- endcall -%}
  {%- call statement('lake_schema') -%}
    create table {{ schema_relation }} using parquet location '{{ location }}.schema.parquet'
    as select * from ({{ select_sql }}) as model limit 0
  {%- endcall -%}
  {%- call statement('lake_data') -%}
    create table {{ data_relation }} using parquet partitioned by (lake_source, lake_month)
    location '{{ location }}'
    as select model.*, model.x_AccountKey as lake_source, model.x_BillingMonth as lake_month
    from ({{ select_sql }}) as model
  {%- endcall -%}
{%- endmacro %}
