{{ config(materialized='table') }}

-- The 25 most expensive resources (by EffectiveCost) per billing month and currency.
with resources as (

    select
        "BillingPeriodStart",
        "BillingCurrency",
        "ProviderName",
        "x_AccountKey",
        "SubAccountId",
        "ResourceId",
        max("ServiceName") as "ServiceName",
        max("RegionId") as "RegionId",
        sum("BilledCost") as "BilledCost",
        sum("EffectiveCost") as "EffectiveCost"
    from {{ ref('costs') }}
    where "ResourceId" is not null
    group by 1, 2, 3, 4, 5, 6

),

ranked as (

    select
        *,
        row_number() over (
            partition by "BillingPeriodStart", "BillingCurrency"
            order by "EffectiveCost" desc, "ResourceId"
        ) as "CostRank"
    from resources

)

select * from ranked where "CostRank" <= 25
