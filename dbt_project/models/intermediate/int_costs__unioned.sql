-- All providers' kept rows in one FOCUS column list (macro focus_columns). The providers come from
-- costlake's provider catalog (orchestration/providers/catalog.py), passed to every dbt invocation as
-- the var `costlake_providers`; provider <p> contributes its model int_<p>__focus.
{%- set providers = var('costlake_providers') %}

{% for provider in providers %}
select
    {{ select_focus_columns(ref('int_' ~ provider ~ '__focus'), 'p') }}
from {{ ref('int_' ~ provider ~ '__focus') }} as p
{% if not loop.last %}union all{% endif %}
{% endfor %}
