{{ config(materialized='table') }}

-- Month to date vs the previous month, per provider / source / sub account / currency.
-- "Today" is the newest charge date in the warehouse (exports lag real time by a day or more, and a
-- warehouse rebuilt from history must give the same answer as it did then).
with daily as (

    select * from {{ ref('cost_daily') }}

),

as_of as (

    select max("ChargeDate") as as_of_date from daily

),

bounds as (

    select
        as_of_date,
        cast({{ dbt.date_trunc('month', 'as_of_date') }} as date) as month_start,
        cast({{ dbt.dateadd('month', -1, dbt.date_trunc('month', 'as_of_date')) }} as date) as previous_month_start,
        cast({{ dbt.dateadd('month', -1, 'as_of_date') }} as date) as previous_month_same_day
    from as_of

)

select
    bounds.as_of_date as "AsOfDate",
    bounds.month_start as "MonthStart",
    daily."ProviderName",
    daily."x_AccountKey",
    daily."SubAccountId",
    daily."BillingCurrency",
    sum(case when daily."ChargeDate" >= bounds.month_start then daily."BilledCost" else 0 end)
        as "MonthToDateBilledCost",
    sum(case when daily."ChargeDate" >= bounds.previous_month_start
              and daily."ChargeDate" <= bounds.previous_month_same_day then daily."BilledCost" else 0 end)
        as "PreviousMonthSamePeriodBilledCost",
    sum(case when daily."ChargeDate" >= bounds.previous_month_start
              and daily."ChargeDate" < bounds.month_start then daily."BilledCost" else 0 end)
        as "PreviousMonthBilledCost",
    sum(case when daily."ChargeDate" >= bounds.month_start then daily."EffectiveCost" else 0 end)
        as "MonthToDateEffectiveCost"
from daily
cross join bounds
where daily."ChargeDate" >= bounds.previous_month_start
group by 1, 2, 3, 4, 5, 6
