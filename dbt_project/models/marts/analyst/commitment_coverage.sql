{{ config(materialized='table') }}

-- Commitment discount coverage (RIs, Savings Plans, CUDs, reservations) per provider / source /
-- billing month / currency: how much usage ran under a commitment, and what the commitments cost.
select
    "BillingPeriodStart",
    "ProviderName",
    "x_AccountKey",
    "BillingCurrency",
    sum(case when "ChargeCategory" = 'Usage' then "EffectiveCost" else 0 end) as "UsageEffectiveCost",
    sum(case when "ChargeCategory" = 'Usage' and "CommitmentDiscountId" is not null then "EffectiveCost" else 0 end)
        as "CoveredUsageEffectiveCost",
    sum(case when "ChargeCategory" = 'Usage' and "CommitmentDiscountId" is null then "EffectiveCost" else 0 end)
        as "OnDemandUsageEffectiveCost",
    sum(case when "ChargeCategory" = 'Usage' and "CommitmentDiscountId" is not null then "ListCost" else 0 end)
        - sum(case when "ChargeCategory" = 'Usage' and "CommitmentDiscountId" is not null then "EffectiveCost" else 0 end)
        as "CommitmentSavings",
    sum(case when "ChargeCategory" = 'Purchase' and "CommitmentDiscountId" is not null then "BilledCost" else 0 end)
        as "CommitmentPurchaseBilledCost",
    case
        when sum(case when "ChargeCategory" = 'Usage' then "EffectiveCost" else 0 end) = 0 then null
        else round(
            100 * sum(case when "ChargeCategory" = 'Usage' and "CommitmentDiscountId" is not null then "EffectiveCost" else 0 end)
            / sum(case when "ChargeCategory" = 'Usage' then "EffectiveCost" else 0 end), 2)
    end as "CoveragePercent"
from {{ ref('costs') }}
group by 1, 2, 3, 4
