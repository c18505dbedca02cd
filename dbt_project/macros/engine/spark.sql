{#-
  What running the same models on Apache Spark (dbt-spark) needs besides dispatched SQL
  (docs/scale-out.md). Nothing here runs on DuckDB.

  * SQL text: the models quote identifiers the SQL-standard way ("BilledCost") and escape a quote in a
    string literal by doubling it. dbt-spark turns ANSI mode off, and then Spark reads "..." as a string
    and '' as two literals: costlake_spark_sql() rewrites both before Spark sees a model (views and lake
    tables), so a model has one text for both engines. Backslashes are not rewritten (dbt-spark's own
    macros write Spark's escapes): models write none in literals (a regex dot is [.], not \.).
  * Settings: the Spark session must compute decimals without precision loss, in UTC, with timestamps
    without time zone (what DuckDB's TIMESTAMP is) and merge Parquet schemas (bronze files of different
    months may differ in optional columns). profiles.yml passes them; costlake_spark_check_settings()
    refuses to run when the session has other values (e.g. a Thrift server that ignored them).
  * Sources: a view per bronze / registry table over the build's Parquet files (meta `costlake_files`,
    relative to <build>/inputs), created when the run starts.
-#}

{% macro costlake_spark_sql(sql) -%}
  {#- Outside comments and string literals, "name" becomes `name`; inside a literal, a doubled quote
      becomes \' (Spark's escape). -#}
  {%- set pieces = modules.re.split("(--[^\\n]*|/\\*.*?\\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", sql, flags=modules.re.S) -%}
  {%- set out = [] -%}
  {%- for piece in pieces -%}
    {%- if piece | length > 1 and piece[0] == '"' and piece[-1] == '"' -%}
      {%- do out.append('`' ~ (piece[1:-1] | replace('""', '"') | replace('`', '``')) ~ '`') -%}
    {%- elif piece | length > 1 and piece[0] == "'" and piece[-1] == "'" -%}
      {%- do out.append("'" ~ (piece[1:-1] | replace("''", "\\'")) ~ "'") -%}
    {%- else -%}
      {%- do out.append(piece) -%}
    {%- endif -%}
  {%- endfor -%}
  {{- out | join('') -}}
{%- endmacro %}

{#- dbt-spark's view, with the model's text made Spark's. (No column docs or contract on views: the
    contracted models are lake tables.) -#}
{% macro spark__create_view_as(relation, sql) -%}
  create or replace view {{ relation }} as
  {{ costlake_spark_sql(sql) }}
{%- endmacro %}

{#- Where Spark sees <home>/build: the same folder (default), or its object-store / mount URI on a cluster. -#}
{% macro costlake_spark_build_uri() -%}
  {{- env_var('COSTLAKE_SPARK_BUILD_URI', env_var('COSTLAKE_HOME', '.costlake') ~ '/build') | trim | replace('\\', '/') -}}
{%- endmacro %}

{#- The session settings the models' results depend on, with the value each must have. -#}
{% macro costlake_spark_required_settings() -%}
  {{ return({
    'spark.sql.decimalOperations.allowPrecisionLoss': 'false',
    'spark.sql.session.timeZone': 'UTC',
    'spark.sql.timestampType': 'TIMESTAMP_NTZ',
    'spark.sql.parquet.mergeSchema': 'true',
    'spark.sql.parquet.inferTimestampNTZ.enabled': 'true',
  }) }}
{%- endmacro %}

{% macro costlake_spark_check_settings() -%}
  {%- set wrong = [] -%}
  {%- for key, wanted in costlake_spark_required_settings().items() -%}
    {%- set found = run_query('set ' ~ key).columns[1].values()[0] | string -%}
    {%- if found | lower != wanted | lower -%}
      {%- do wrong.append(key ~ '=' ~ found ~ ' (needs ' ~ wanted ~ ')') -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if wrong -%}
    {{ exceptions.raise_compiler_error(
      "costlake: this Spark session has settings the models' results depend on set otherwise: "
      ~ wrong | join(', ') ~ ". Set them for every session (dbt_project/profiles.yml, target spark, "
      ~ "server_side_parameters, or the cluster's Spark config); see docs/scale-out.md.") }}
  {%- endif -%}
{%- endmacro %}

{#- A view per source table with meta `costlake_files`: <schema>.<table> over <build>/inputs/<files>. -#}
{% macro costlake_spark_source_views() -%}
  {%- set schemas = [] -%}
  {%- for node in graph.sources.values() -%}
    {%- set files = node.meta.get('costlake_files') or node.config.meta.get('costlake_files') -%}
    {%- if files -%}
      {%- if node.schema not in schemas -%}
        {%- do run_query('create schema if not exists ' ~ node.schema) -%}
        {%- do schemas.append(node.schema) -%}
      {%- endif -%}
      {%- do run_query('create or replace view ' ~ node.schema ~ '.' ~ node.identifier
                       ~ ' as select * from parquet.`' ~ costlake_spark_build_uri() ~ '/inputs/' ~ files ~ '`') -%}
    {%- endif -%}
  {%- endfor -%}
{%- endmacro %}

{#- on-run-start (dbt_project.yml): nothing on DuckDB. -#}
{% macro costlake_on_run_start() -%}
  {{ return(adapter.dispatch('costlake_on_run_start', 'costlake')()) }}
{%- endmacro %}

{% macro default__costlake_on_run_start() -%}
{%- endmacro %}

{% macro spark__costlake_on_run_start() -%}
  {%- if execute -%}
    {%- do costlake_spark_check_settings() -%}
    {%- do costlake_spark_source_views() -%}
  {%- endif -%}
{%- endmacro %}

{#- dbt.dateadd on Spark: dbt-spark's goes through Unix seconds and to_timestamp(), which returns NULL for a
    TIMESTAMP_NTZ session (ours, see above). timestampadd keeps the type. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
  timestampadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}
