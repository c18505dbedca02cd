{{ config(materialized='lake_table') }}

-- One row per cost row and normalized tag (costs.x_Tags: the row's own tags after the registry's tag rules,
-- plus the tags its sub account and source declare), with the row's cost: show-back by any tag without a
-- join. A row without tags has no row here. TagInherited: the tag comes from the registry, not the row.
-- Built per (source, billing month) with `costs`.
{%- set rules = costlake_tag_rules(ref('stg_costlake__tag_rules'), ref('stg_costlake__tag_settings')) %}

with tagged as (

    select
        *,
        {{ costlake_normalized_tags(costlake_json_to_map('"Tags"'), rules) }} as own_tags
    from {{ ref('costs') }}

),

exploded as (

    {{ costlake_explode_map(
        '"x_AccountKey", "x_BillingMonth", "ProviderName", "SubAccountId", "SubAccountName", "ServiceName",
         "BillingPeriodStart", "ChargePeriodStart", "ChargePeriodEnd", "x_LineItemId", "x_SourceFile",
         "BillingCurrency", "BilledCost", "EffectiveCost", "x_ReportingCurrency", "x_BilledCostInReportingCurrency",
         "x_EffectiveCostInReportingCurrency", own_tags',
        'tagged', '"x_Tags"') }}

)

select
    "x_AccountKey",
    "x_BillingMonth",
    "ProviderName",
    "SubAccountId",
    "SubAccountName",
    "ServiceName",
    cast({{ dbt.date_trunc('day', '"ChargePeriodStart"') }} as date) as "ChargeDate",
    tag_key as "TagKey",
    tag_value as "TagValue",
    not coalesce(array_contains(map_keys(own_tags), tag_key), false) as "TagInherited",
    "BillingCurrency",
    "BilledCost",
    "EffectiveCost",
    "x_ReportingCurrency",
    "x_BilledCostInReportingCurrency",
    "x_EffectiveCostInReportingCurrency",
    "BillingPeriodStart",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "x_LineItemId",
    "x_SourceFile"
from exploded
