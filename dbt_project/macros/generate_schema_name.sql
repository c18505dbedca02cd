{#- Marts land in the main schema ('costs', not 'main_costs'); other layers in their own schema. On Spark
    every schema is prefixed with the target's ('costlake_staging'): a cluster's metastore is shared, and
    one prefix per costlake home keeps homes apart (docs/scale-out.md). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.type == 'spark' -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
