{{ config(materialized='lake_table', contract={'enforced': true}) }}

-- The one cost table: FOCUS 1.2 columns plus x_ extensions. Built per (x_AccountKey, x_BillingMonth):
-- dbt writes the partitions of this build, costlake checks and publishes each into the lake, and the
-- published warehouse's `costs` reads every current partition (orchestration/warehouse/).
-- Here the provider-independent extensions are added: the reporting currency (at the rate of the charge
-- date, from the partition's own rates: macros/reporting_currency.sql) and x_Tags, the normalized tag map
-- with the tags the registry declares for the row's source and sub account (macros/tags.sql).
{%- set rules = costlake_tag_rules(ref('stg_costlake__tag_rules'), ref('stg_costlake__tag_settings')) %}
{%- set derived = {
    'x_ReportingCurrency': 'joined.reporting_currency',
    'x_BilledCostInReportingCurrency': costlake_in_reporting_currency(
        'joined."BilledCost"', 'joined."BillingCurrency"', 'joined.reporting_currency', 'joined.reporting_rate'),
    'x_EffectiveCostInReportingCurrency': costlake_in_reporting_currency(
        'joined."EffectiveCost"', 'joined."BillingCurrency"', 'joined.reporting_currency', 'joined.reporting_rate'),
    'x_Tags': 'case when ' ~ costlake_map_size('joined.all_tags') ~ ' > 0 then joined.all_tags end',
} %}

with unioned as (

    select
        *,
        {{ costlake_json_to_map('"Tags"') }} as provider_tags
    from {{ ref('int_costs__unioned') }}

),

settings as (

    select * from {{ ref('stg_costlake__partition_settings') }}

),

rates as (

    select * from {{ ref('stg_costlake__partition_rates') }}

),

inherited as (

    select * from {{ ref('int_costs__inherited_tags') }}

),

joined as (

    select
        unioned.*,
        settings.reporting_currency,
        rates.rate as reporting_rate,
        -- The source's tags, then the sub account's, then the row's own: a later one wins a key.
        {{ costlake_map_merge(['source_tags.inherited_tags', 'sub_account_tags.inherited_tags',
                               costlake_normalized_tags('unioned.provider_tags', rules)]) }} as all_tags
    from unioned
    left join settings
        on settings.account_key = unioned."x_AccountKey"
        and settings.billing_month = unioned."x_BillingMonth"
    -- One rate per (partition, day, currency): the join never repeats a row.
    left join rates
        on rates.account_key = unioned."x_AccountKey"
        and rates.billing_month = unioned."x_BillingMonth"
        and rates.from_currency = unioned."BillingCurrency"
        and rates.charge_date = cast({{ dbt.date_trunc('day', 'coalesce(unioned."ChargePeriodStart", unioned."BillingPeriodStart")') }} as date)
    left join inherited as source_tags
        on source_tags.source_key = unioned."x_AccountKey"
        and source_tags.sub_account_id is null
    left join inherited as sub_account_tags
        on sub_account_tags.source_key = unioned."x_AccountKey"
        and sub_account_tags.sub_account_id = lower(unioned."SubAccountId")

)

select
{%- for name, kind in focus_columns() %}
    {%- if name in derived %}
    cast({{ derived[name] }} as {{ focus_type(kind) }}) as {{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- else %}
    joined.{{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- endif %}
{%- endfor %}
from joined
