{{ config(materialized='view') }}

-- The 25 most expensive resources (by EffectiveCost) per billing month and currency, across every source.
-- A view over the partitioned resource_costs: nothing is rebuilt for months that did not change.
with ranked as (

    select
        *,
        row_number() over (
            partition by "BillingPeriodStart", "BillingCurrency"
            order by "EffectiveCost" desc, "ResourceId"
        ) as "CostRank"
    from {{ ref('resource_costs').include(database=False) }}

)

select
    "BillingPeriodStart",
    "x_BillingMonth",
    "BillingCurrency",
    "ProviderName",
    "x_AccountKey",
    "SubAccountId",
    "ResourceId",
    "ServiceName",
    "RegionId",
    "BilledCost",
    "EffectiveCost",
    "CostRank",
    "x_ReportingCurrency",
    "x_BilledCostInReportingCurrency",
    "x_EffectiveCostInReportingCurrency"
from ranked
where "CostRank" <= 25
