-- GCP rows that reach `costs`, with billed and effective cost.
--
-- One table per month: the standard and detailed exports hold the same charges (detailed splits them per
-- resource), so a (source, month) whose detailed bronze has rows is taken from it, else from standard.
--
-- BilledCost = cost + every credit (credits are negative): what the invoice charges.
-- EffectiveCost amortizes committed-use discounts (FOCUS: a commitment's price belongs to the usage it
-- covered). GCP bills a commitment every month on its own fee rows ("Commitment v1: ..." for
-- resource-based CUDs, "Commitment - dollar based v1: ..." for spend-based/flexible CUDs), while the
-- covered usage gets a COMMITTED_USAGE_DISCOUNT(_DOLLAR_BASE) credit that cancels its on-demand price.
-- Per (source, month, currency, commitment kind) we spread the month's fees over the covered usage in
-- proportion to each row's CUD credit; those fee rows then have EffectiveCost 0. A month whose fees
-- covered no usage keeps them as they are (an unused commitment is still a cost). All other credits
-- (sustained use, free tier, promotions, contract discounts) lower both costs alike. Per month and
-- currency, sum(EffectiveCost) = sum(BilledCost) (to the 1e-9 of the share division): fees are moved, never added or dropped.
-- Simplification: unused commitment inside a month with covered usage is spread over that usage too
-- (the billing export does not say how much of a fee went unused).
with line_items as (

    select * from {{ ref('stg_gcp__billing_export') }}

),

detailed_months as (

    select distinct account_key, billing_period
    from line_items
    where dataset = 'detailed'

),

chosen as (

    select line_items.*
    from line_items
    left join detailed_months
        on line_items.account_key = detailed_months.account_key
        and line_items.billing_period = detailed_months.billing_period
    where line_items.dataset = 'detailed' or detailed_months.account_key is null

),

classified as (

    select
        *,
        cost + credits_amount as billed_cost,
        case
            when coalesce(cost_type, 'regular') = 'regular' and lower(sku_description) like 'commitment%'
                then case when lower(sku_description) like '%dollar based%' then 'Spend' else 'Usage' end
        end as commitment_fee_kind
    from chosen

),

commitment_pools as (

    select
        account_key,
        billing_period,
        currency,
        sum(case when commitment_fee_kind = 'Usage' then billed_cost else 0 end) as usage_fees,
        sum(case when commitment_fee_kind = 'Spend' then billed_cost else 0 end) as spend_fees,
        sum(-credits_committed_usage) as usage_covered,
        sum(-credits_committed_spend) as spend_covered
    from classified
    group by account_key, billing_period, currency

),

shared as (

    select
        classified.*,
        case when classified.commitment_fee_kind = 'Usage' and pools.usage_covered > 0 then true
             when classified.commitment_fee_kind = 'Spend' and pools.spend_covered > 0 then true
             else false end as is_amortized_fee,
        -- The share of the month's commitment fees this row's CUD credits stand for. It is a division
        -- (a floating-point quotient, the same on every engine: macros/engine/numbers.sql); only covered
        -- rows go through it, every other row stays exact.
        case when pools.usage_covered > 0 and classified.credits_committed_usage <> 0
             then {{ costlake_divide('cast(-classified.credits_committed_usage as decimal(38,9))'
                                     ' * cast(pools.usage_fees as decimal(38,9))', 'pools.usage_covered') }}
             else cast(0 as decimal(38,18)) end
        + case when pools.spend_covered > 0 and classified.credits_committed_spend <> 0
             then {{ costlake_divide('cast(-classified.credits_committed_spend as decimal(38,9))'
                                     ' * cast(pools.spend_fees as decimal(38,9))', 'pools.spend_covered') }}
             else cast(0 as decimal(38,18)) end as commitment_share
    from classified
    left join commitment_pools as pools
        on classified.account_key = pools.account_key
        and classified.billing_period = pools.billing_period
        and classified.currency = pools.currency

),

costed as (

    select
        *,
        case when is_amortized_fee then cast(0 as decimal(38,18)) else billed_cost + commitment_share end
            as effective_cost,
        case
            when commitment_fee_kind is not null then commitment_fee_kind
            when credits_committed_usage <> 0 then 'Usage'
            when credits_committed_spend <> 0 then 'Spend'
        end as commitment_discount_category
    from shared

)

select * from costed
