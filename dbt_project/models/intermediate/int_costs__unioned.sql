-- All providers' kept rows in one FOCUS column list (macro focus_columns). A provider adds its
-- int_<provider>__focus model here, one line each.
{%- set providers = [
    'int_aws__focus',
    'int_gcp__focus',
    'int_azure__focus',
    'int_oci__focus',
] %}

{% for model in providers %}
select
    {{ select_focus_columns(ref(model), 'p') }}
from {{ ref(model) }} as p
{% if not loop.last %}union all{% endif %}
{% endfor %}
