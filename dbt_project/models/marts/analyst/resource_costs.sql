{{ config(materialized='lake_table') }}

-- Cost per resource per source and billing month (the partitioned step of top_resources: ranking across
-- sources happens in the view, over these small sums, so a restated month rebuilds only its own part).
select
    "x_BillingMonth",
    "BillingPeriodStart",
    "BillingCurrency",
    "ProviderName",
    "x_AccountKey",
    "SubAccountId",
    "ResourceId",
    max("ServiceName") as "ServiceName",
    max("RegionId") as "RegionId",
    count(*) as "RowCount",
    sum("BilledCost") as "BilledCost",
    sum("EffectiveCost") as "EffectiveCost",
    max("x_ReportingCurrency") as "x_ReportingCurrency",
    {{ costlake_sum_in_reporting_currency('"x_BilledCostInReportingCurrency"') }} as "x_BilledCostInReportingCurrency",
    {{ costlake_sum_in_reporting_currency('"x_EffectiveCostInReportingCurrency"') }} as "x_EffectiveCostInReportingCurrency"
from {{ ref('costs') }}
where "ResourceId" is not null
group by 1, 2, 3, 4, 5, 6, 7
