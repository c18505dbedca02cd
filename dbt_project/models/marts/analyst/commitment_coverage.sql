{{ config(materialized='lake_table') }}

-- Commitment discount coverage (RIs, Savings Plans, CUDs, reservations) per provider / source /
-- billing month / currency: how much usage ran under a commitment, and what the commitments cost.
-- FOCUS marks a commitment's unused part as Usage rows with CommitmentDiscountStatus 'Unused': that is
-- waste, not usage, so it is kept apart (AWS's recurring RI / Savings Plan fee lines are such rows and
-- also carry the billed fee, counted with the purchases).
with classified as (

    select
        *,
        "ChargeCategory" = 'Usage' and coalesce("CommitmentDiscountStatus", '') != 'Unused' as is_usage,
        "ChargeCategory" = 'Usage' and "CommitmentDiscountId" is not null
            and coalesce("CommitmentDiscountStatus", 'Used') = 'Used' as is_covered
    from {{ ref('costs') }}

)

select
    "BillingPeriodStart",
    "x_BillingMonth",
    "ProviderName",
    "x_AccountKey",
    "BillingCurrency",
    sum(case when is_usage then "EffectiveCost" else 0 end) as "UsageEffectiveCost",
    sum(case when is_covered then "EffectiveCost" else 0 end) as "CoveredUsageEffectiveCost",
    sum(case when is_usage and "CommitmentDiscountId" is null then "EffectiveCost" else 0 end)
        as "OnDemandUsageEffectiveCost",
    sum(case when is_covered then "ListCost" else 0 end) - sum(case when is_covered then "EffectiveCost" else 0 end)
        as "CommitmentSavings",
    sum(case when "CommitmentDiscountStatus" = 'Unused' then "EffectiveCost" else 0 end) as "UnusedCommitmentEffectiveCost",
    sum(case when "CommitmentDiscountId" is not null
                  and ("ChargeCategory" = 'Purchase' or "CommitmentDiscountStatus" = 'Unused')
             then "BilledCost" else 0 end)
        as "CommitmentPurchaseBilledCost",
    case
        when sum(case when is_usage then "EffectiveCost" else 0 end) = 0 then null
        else {{ costlake_round_double(
            costlake_to_double('100 * sum(case when is_covered then "EffectiveCost" else 0 end)')
            ~ ' / ' ~ costlake_to_double('sum(case when is_usage then "EffectiveCost" else 0 end)'), 2) }}
    end as "CoveragePercent",
    max("x_ReportingCurrency") as "x_ReportingCurrency",
    {{ costlake_sum_in_reporting_currency('"x_EffectiveCostInReportingCurrency"', 'is_usage') }}
        as "x_UsageEffectiveCostInReportingCurrency",
    {{ costlake_sum_in_reporting_currency('"x_EffectiveCostInReportingCurrency"', 'is_covered') }}
        as "x_CoveredUsageEffectiveCostInReportingCurrency",
    {{ costlake_sum_in_reporting_currency('"x_EffectiveCostInReportingCurrency"', 'is_usage and "CommitmentDiscountId" is null') }}
        as "x_OnDemandUsageEffectiveCostInReportingCurrency",
    {{ costlake_sum_in_reporting_currency('"x_EffectiveCostInReportingCurrency"', '"CommitmentDiscountStatus" = \'Unused\'') }}
        as "x_UnusedCommitmentEffectiveCostInReportingCurrency",
    {{ costlake_sum_in_reporting_currency('"x_BilledCostInReportingCurrency"',
        '"CommitmentDiscountId" is not null and ("ChargeCategory" = \'Purchase\' or "CommitmentDiscountStatus" = \'Unused\')') }}
        as "x_CommitmentPurchaseBilledCostInReportingCurrency"
from classified
group by 1, 2, 3, 4, 5
