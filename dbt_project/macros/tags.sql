{#-
  Tags an analyst can use: costs.x_Tags is a MAP(string, string) of normalized tags, queryable as
  x_Tags['team'], beside FOCUS's JSON Tags (kept as the provider wrote it).

  The rules come from the registry (tag_rules:, orchestration/warehouse/reporting.py tag_tables) and are
  read when the model runs, so a row's map is one expression over its own Tags (no explode and re-group of
  every cost row):
  - a canonical key (one with aliases, or one the case rule names) takes the first non-empty value among
    its spellings in order: the key itself as written, then its aliases as listed (user:team, Team, ...);
  - every other key is kept as the provider wrote it;
  - values are trimmed (unless trim: false) and case-folded where the rule says; a value that is empty
    afterwards is no tag (so inheritance may fill it).
  Inherited tags (registry `tags:` and `sub_account_tags:`) go through the same rules and apply only where
  the row lacks the key: resource tag > sub account tag > source tag.

  MAP construction is engine-specific: the small costlake_map_* / costlake_list_* macros below are
  dispatched (duckdb__ tested here; spark__ written for the Spark target).
-#}

{#- The rules as a dict, read from the registry tables when the model runs (empty while parsing). -#}
{% macro costlake_tag_rules(rules_relation, settings_relation) -%}
  {%- set result = {'keys': [], 'spellings': {}, 'fold': {}, 'trim': true, 'case': 'preserve', 'fold_others': false} -%}
  {%- if execute -%}
    {%- set rows = run_query('select tag_key, spelling, fold_case from ' ~ rules_relation ~ ' order by tag_key, position') -%}
    {%- for row in rows -%}
      {%- if row[0] not in result['spellings'] -%}
        {%- do result['keys'].append(row[0]) -%}
        {%- do result['spellings'].update({row[0]: []}) -%}
        {%- do result['fold'].update({row[0]: row[2]}) -%}
      {%- endif -%}
      {%- do result['spellings'][row[0]].append(row[1]) -%}
    {%- endfor -%}
    {%- set settings = run_query('select trim_values, value_case, fold_other_keys from ' ~ settings_relation) -%}
    {%- for row in settings -%}
      {%- do result.update({'trim': row[0], 'case': row[1], 'fold_others': row[2]}) -%}
    {%- endfor -%}
  {%- endif -%}
  {{ return(result) }}
{%- endmacro %}

{#- A tag value normalized: trimmed, case-folded when ``fold``; NULL when empty. -#}
{% macro costlake_tag_value(expression, rules, fold) -%}
  {%- set value = 'trim(' ~ expression ~ ')' if rules['trim'] else expression -%}
  {%- if fold and rules['case'] == 'lower' -%}{%- set value = 'lower(' ~ value ~ ')' -%}
  {%- elif fold and rules['case'] == 'upper' -%}{%- set value = 'upper(' ~ value ~ ')' -%}
  {%- endif -%}
  nullif({{ value }}, '')
{%- endmacro %}

{#- A string literal in SQL (tag keys may hold quotes). -#}
{% macro costlake_string(text) -%}
  '{{ text | replace("'", "''") }}'
{%- endmacro %}

{#- The normalized tag map of a raw MAP(string, string) expression (never NULL: empty when no tags). -#}
{% macro costlake_normalized_tags(raw_map, rules) -%}
  {%- set named = [] -%}
  {%- for key in rules['keys'] -%}
    {%- for spelling in rules['spellings'][key] -%}{%- do named.append(costlake_string(spelling)) -%}{%- endfor -%}
  {%- endfor -%}
  {%- set others -%}
    {{ costlake_list_filter(
         costlake_list_transform('map_entries(' ~ raw_map ~ ')', 'e',
           costlake_map_entry('e.key', costlake_tag_value('e.value', rules, rules['fold_others']))),
         'e', 'e.value is not null' ~ ((' and e.key not in (' ~ named | join(', ') ~ ')') if named else '')) }}
  {%- endset -%}
  {%- if rules['keys'] -%}
    {%- set canonical = [] -%}
    {%- for key in rules['keys'] -%}
      {%- set candidates = [] -%}
      {%- for spelling in rules['spellings'][key] -%}
        {%- do candidates.append(costlake_tag_value(costlake_map_get(raw_map, costlake_string(spelling)), rules, rules['fold'][key])) -%}
      {%- endfor -%}
      {%- do canonical.append(costlake_map_entry(costlake_string(key), 'coalesce(' ~ candidates | join(', ') ~ ')')) -%}
    {%- endfor -%}
    {{ costlake_map_merge([
         costlake_map_from_entries(others),
         costlake_map_from_entries(costlake_list_filter(costlake_list(canonical), 'e', 'e.value is not null'))
       ]) }}
  {%- else -%}
    {{ costlake_map_from_entries(others) }}
  {%- endif -%}
{%- endmacro %}

{# ---- engine-specific pieces ---------------------------------------------------------------------- #}

{% macro costlake_tag_map_type() -%}{{ return(adapter.dispatch('costlake_tag_map_type', 'costlake')()) }}{%- endmacro %}
{% macro duckdb__costlake_tag_map_type() -%}map(varchar, varchar){%- endmacro %}
{% macro spark__costlake_tag_map_type() -%}map<string,string>{%- endmacro %}

{#- A JSON object text -> MAP(string, string); values that are not strings keep their JSON text; NULL
    (not an error) for anything that is not a JSON object. -#}
{% macro costlake_json_to_map(expression) -%}{{ return(adapter.dispatch('costlake_json_to_map', 'costlake')(expression)) }}{%- endmacro %}
{% macro duckdb__costlake_json_to_map(expression) -%}
  case when json_valid({{ expression }}) and json_type({{ expression }}) = 'OBJECT'
       then json_transform({{ expression }}, '"MAP(VARCHAR, VARCHAR)"') end
{%- endmacro %}
{% macro spark__costlake_json_to_map(expression) -%}
  from_json({{ expression }}, 'map<string,string>')
{%- endmacro %}

{#- The value of ``key`` in a map; NULL when the map lacks it. -#}
{% macro costlake_map_get(map, key) -%}{{ return(adapter.dispatch('costlake_map_get', 'costlake')(map, key)) }}{%- endmacro %}
{% macro duckdb__costlake_map_get(map, key) -%}{{ map }}[{{ key }}]{%- endmacro %}
{% macro spark__costlake_map_get(map, key) -%}try_element_at({{ map }}, {{ key }}){%- endmacro %}

{% macro costlake_list(items) -%}{{ return(adapter.dispatch('costlake_list', 'costlake')(items)) }}{%- endmacro %}
{% macro duckdb__costlake_list(items) -%}[{{ items | join(', ') }}]{%- endmacro %}
{% macro spark__costlake_list(items) -%}array({{ items | join(', ') }}){%- endmacro %}

{% macro costlake_map_entry(key, value) -%}{{ return(adapter.dispatch('costlake_map_entry', 'costlake')(key, value)) }}{%- endmacro %}
{% macro duckdb__costlake_map_entry(key, value) -%}struct_pack(key := {{ key }}, value := {{ value }}){%- endmacro %}
{% macro spark__costlake_map_entry(key, value) -%}named_struct('key', {{ key }}, 'value', {{ value }}){%- endmacro %}

{% macro costlake_list_transform(list, param, expression) -%}{{ return(adapter.dispatch('costlake_list_transform', 'costlake')(list, param, expression)) }}{%- endmacro %}
{% macro duckdb__costlake_list_transform(list, param, expression) -%}list_transform({{ list }}, {{ param }} -> {{ expression }}){%- endmacro %}
{% macro spark__costlake_list_transform(list, param, expression) -%}transform({{ list }}, {{ param }} -> {{ expression }}){%- endmacro %}

{% macro costlake_list_filter(list, param, condition) -%}{{ return(adapter.dispatch('costlake_list_filter', 'costlake')(list, param, condition)) }}{%- endmacro %}
{% macro duckdb__costlake_list_filter(list, param, condition) -%}list_filter({{ list }}, {{ param }} -> {{ condition }}){%- endmacro %}
{% macro spark__costlake_list_filter(list, param, condition) -%}filter({{ list }}, {{ param }} -> {{ condition }}){%- endmacro %}

{#- entries (a list of key/value structs, keys unique) -> MAP; an empty MAP for NULL. -#}
{% macro costlake_map_from_entries(entries) -%}{{ return(adapter.dispatch('costlake_map_from_entries', 'costlake')(entries)) }}{%- endmacro %}
{% macro duckdb__costlake_map_from_entries(entries) -%}
  coalesce(map_from_entries({{ entries }}), cast(map() as {{ costlake_tag_map_type() }}))
{%- endmacro %}
{% macro spark__costlake_map_from_entries(entries) -%}
  coalesce(map_from_entries({{ entries }}), cast(map() as {{ costlake_tag_map_type() }}))
{%- endmacro %}

{#- Maps merged left to right, a later map's value winning for a key both hold; NULL maps count as empty. -#}
{% macro costlake_map_merge(maps) -%}{{ return(adapter.dispatch('costlake_map_merge', 'costlake')(maps)) }}{%- endmacro %}
{% macro duckdb__costlake_map_merge(maps) -%}
  map_concat({% for m in maps %}coalesce({{ m }}, cast(map() as {{ costlake_tag_map_type() }})){{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}
{% macro spark__costlake_map_merge(maps) -%}
  {#- Spark's map_concat refuses duplicate keys (spark.sql.mapKeyDedupPolicy=EXCEPTION): drop from the
      earlier map every key the later one has. -#}
  {#- A namespace: a plain `set` inside a Jinja loop does not outlive the iteration. -#}
  {%- set state = namespace(merged='coalesce(' ~ maps[0] ~ ', cast(map() as ' ~ costlake_tag_map_type() ~ '))') -%}
  {%- for m in maps[1:] -%}
    {%- set later = 'coalesce(' ~ m ~ ', cast(map() as ' ~ costlake_tag_map_type() ~ '))' -%}
    {%- set state.merged = 'map_concat(map_filter(' ~ state.merged ~ ', (k, v) -> not array_contains(map_keys(' ~ later ~ '), k)), ' ~ later ~ ')' -%}
  {%- endfor -%}
  {{ state.merged }}
{%- endmacro %}

{% macro costlake_map_size(expression) -%}{{ return(adapter.dispatch('costlake_map_size', 'costlake')(expression)) }}{%- endmacro %}
{% macro duckdb__costlake_map_size(expression) -%}cardinality({{ expression }}){%- endmacro %}
{% macro spark__costlake_map_size(expression) -%}size({{ expression }}){%- endmacro %}

{#- An aggregate: the (key, value) pairs of a group as one MAP (keys unique within the group). -#}
{% macro costlake_map_agg(key, value) -%}{{ return(adapter.dispatch('costlake_map_agg', 'costlake')(key, value)) }}{%- endmacro %}
{% macro duckdb__costlake_map_agg(key, value) -%}map_from_entries(list(struct_pack(key := {{ key }}, value := {{ value }}))){%- endmacro %}
{% macro spark__costlake_map_agg(key, value) -%}map_from_entries(collect_list(named_struct('key', {{ key }}, 'value', {{ value }}))){%- endmacro %}

{#- One row per (row of ``relation``, entry of its map ``map_column``): ``columns`` plus tag_key, tag_value. -#}
{% macro costlake_explode_map(columns, relation, map_column) -%}{{ return(adapter.dispatch('costlake_explode_map', 'costlake')(columns, relation, map_column)) }}{%- endmacro %}
{% macro duckdb__costlake_explode_map(columns, relation, map_column) -%}
  select {{ columns }}, unnest(map_keys({{ map_column }})) as tag_key, unnest(map_values({{ map_column }})) as tag_value
  from {{ relation }}
  where {{ map_column }} is not null
{%- endmacro %}
{% macro spark__costlake_explode_map(columns, relation, map_column) -%}
  select {{ columns }}, tag_key, tag_value
  from {{ relation }}
  lateral view explode({{ map_column }}) exploded as tag_key, tag_value
{%- endmacro %}
