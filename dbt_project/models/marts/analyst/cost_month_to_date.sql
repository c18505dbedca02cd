{{ config(materialized='view') }}

-- Month to date vs the previous month, per provider / source / sub account / currency. Each source has
-- its own "today": the newest charge date in its own data (exports lag real time by a day or more, and
-- each cloud by its own amount, so one date for all would show lagging sources at 0.00 for the month).
-- A view over cost_daily, recomputed when queried.
with daily as (

    select * from {{ ref('cost_daily').include(database=False) }}

),

as_of as (

    select "x_AccountKey" as as_of_account_key, max("ChargeDate") as as_of_date
    from daily
    group by 1

),

bounds as (

    select
        as_of_account_key,
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
        as "MonthToDateEffectiveCost",
    max(daily."x_ReportingCurrency") as "x_ReportingCurrency",
    {{ costlake_sum_in_reporting_currency('daily."x_BilledCostInReportingCurrency"',
        'daily."ChargeDate" >= bounds.month_start', 'daily."x_ReportingCurrency"') }}
        as "x_MonthToDateBilledCostInReportingCurrency",
    {{ costlake_sum_in_reporting_currency('daily."x_BilledCostInReportingCurrency"',
        'daily."ChargeDate" >= bounds.previous_month_start and daily."ChargeDate" <= bounds.previous_month_same_day',
        'daily."x_ReportingCurrency"') }}
        as "x_PreviousMonthSamePeriodBilledCostInReportingCurrency",
    {{ costlake_sum_in_reporting_currency('daily."x_BilledCostInReportingCurrency"',
        'daily."ChargeDate" >= bounds.previous_month_start and daily."ChargeDate" < bounds.month_start',
        'daily."x_ReportingCurrency"') }}
        as "x_PreviousMonthBilledCostInReportingCurrency",
    {{ costlake_sum_in_reporting_currency('daily."x_EffectiveCostInReportingCurrency"',
        'daily."ChargeDate" >= bounds.month_start', 'daily."x_ReportingCurrency"') }}
        as "x_MonthToDateEffectiveCostInReportingCurrency"
from daily
inner join bounds
    on daily."x_AccountKey" = bounds.as_of_account_key
where daily."ChargeDate" >= bounds.previous_month_start
    and daily."ChargeDate" <= bounds.as_of_date
group by 1, 2, 3, 4, 5, 6
