-- The tags registry entries declare, normalized by the registry's tag rules (macros/tags.sql), as one map
-- per source (sub_account_id null: every row of the source) and per sub account of a source. costs merges
-- them under each row's own tags: a row inherits only the keys it lacks.
{%- set rules = costlake_tag_rules(ref('stg_costlake__tag_rules'), ref('stg_costlake__tag_settings')) %}

with declared as (

    select
        source_key,
        sub_account_id,
        {{ costlake_map_agg('tag_key', 'tag_value') }} as raw_tags
    from {{ ref('stg_costlake__account_tags') }}
    group by source_key, sub_account_id

)

select
    source_key,
    sub_account_id,
    {{ costlake_normalized_tags('raw_tags', rules) }} as inherited_tags
from declared
