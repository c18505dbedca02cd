{{ config(materialized='lake_table') }}

-- Daily cost by provider / source / sub account / service / currency. A charge is attributed to the
-- day its charge period starts (monthly fees land on the 1st). Never sums across currencies; the
-- x_*InReportingCurrency sums are in the one reporting currency (NULL for a day and currency without a rate). Built per
-- (source, billing month) with `costs`: a day can appear under two billing months (late-reported usage,
-- invoice months in another time zone), once in each.
select
    cast({{ dbt.date_trunc('day', '"ChargePeriodStart"') }} as date) as "ChargeDate",
    "x_BillingMonth",
    "ProviderName",
    "x_AccountKey",
    "SubAccountId",
    max("SubAccountName") as "SubAccountName",
    "ServiceName",
    "ServiceCategory",
    "BillingCurrency",
    count(*) as "RowCount",
    sum("BilledCost") as "BilledCost",
    sum("EffectiveCost") as "EffectiveCost",
    sum("ListCost") as "ListCost",
    max("x_ReportingCurrency") as "x_ReportingCurrency",
    {{ costlake_sum_in_reporting_currency('"x_BilledCostInReportingCurrency"') }} as "x_BilledCostInReportingCurrency",
    {{ costlake_sum_in_reporting_currency('"x_EffectiveCostInReportingCurrency"') }} as "x_EffectiveCostInReportingCurrency"
from {{ ref('costs') }}
group by 1, 2, 3, 4, 5, 7, 8, 9
