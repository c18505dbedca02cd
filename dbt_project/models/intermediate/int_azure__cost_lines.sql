-- Azure actual and amortized rows paired into ONE line per charge, so `costs` neither loses nor
-- doubles anything:
--
--   * A row of the actual export and a row of the amortized export describe the same charge when their
--     description is equal (match_key: day, subscription, currency, charge type, pricing model, resource,
--     meter, product, unit, quantity, commitment, location, publisher). Equal descriptions are paired
--     one to one in cost order (row_number within the key), and the pair becomes one line with
--       BilledCost    = the actual row's cost
--       EffectiveCost = the amortized row's cost.
--     On-demand usage costs the same in both; reservation / savings plan covered usage costs 0 in
--     actual and its amortized share in amortized: the line carries that amortized cost.
--   * An actual row without a twin (reservation and savings plan purchases and refunds, which the
--     amortized export spreads instead of listing) becomes a line with EffectiveCost = 0.
--   * An amortized row without a twin (unused reservation / savings plan) becomes a line with
--     BilledCost = 0.
--   * A purchase Azure does not amortize (Marketplace, support plans; no reservation or savings plan) is
--     in both exports with the same cost. Its two rows are NOT paired: the actual row is the purchase
--     (EffectiveCost 0, as FOCUS wants of a purchase that covers later charges) and the amortized row is
--     what Azure's amortized view says the purchase costs in its charge period (BilledCost 0). Both are
--     lines of `costs`; int_azure__focus marks the second one as that purchase's consumption.
--
-- Whatever pairs (or fails to pair), every actual row's cost lands in BilledCost exactly once and every
-- amortized row's cost in EffectiveCost exactly once, and pairs never cross a (source, month,
-- subscription, currency): per that key sum(BilledCost) = the actual export's total and
-- sum(EffectiveCost) = the amortized export's total, which the reconciliation checks assert.
{%- set shared_columns = [
    'billing_account_id', 'billing_account_name', 'billing_profile_id', 'billing_profile_name',
    'invoice_section_id', 'invoice_section_name', 'invoice_id', 'sub_account_id', 'subscription_id', 'subscription_name',
    'resource_group', 'resource_id', 'resource_name', 'meter_id', 'product_id', 'part_number',
    'reservation_id', 'reservation_name', 'benefit_id', 'benefit_name', 'export_schema', 'charge_type',
    'pricing_model', 'frequency', 'publisher_type', 'publisher_name', 'meter_category', 'meter_sub_category',
    'meter_name', 'meter_region', 'service_family', 'consumed_service', 'product_name', 'resource_location',
    'location', 'availability_zone', 'unit_of_measure', 'currency', 'tags_json', 'payg_cost', 'quantity',
    'unit_price', 'payg_price', 'billing_period_start_at', 'billing_period_end_at', 'charge_period_start_at',
    'charge_period_end_at', 'agreement', 'pricing_currency', 'exchange_rate_pricing_to_billing', 'resource_arm_type',
] %}

with details as (

    select * from {{ ref('stg_azure__cost_details') }}

),

numbered as (

    select
        *,
        coalesce(charge_type in ('Purchase', 'Refund') and coalesce(benefit_id, reservation_id) is null
                 and coalesce(pricing_model, '') not in ('Reservation', 'SavingsPlan'), false)
            as is_unamortized_purchase,
        row_number() over (
            partition by account_key, billing_period, dataset, match_key
            order by cost, source_file, source_line
        ) as pair_number
    from details

),

actual as (

    select * from numbered where dataset = 'actual'

),

amortized as (

    select * from numbered where dataset = 'amortized'

),

paired as (

    select
        coalesce(actual.account_key, amortized.account_key) as account_key,
        coalesce(actual.billing_period, amortized.billing_period) as billing_period,
        coalesce(actual.is_unamortized_purchase, amortized.is_unamortized_purchase) as is_unamortized_purchase,
        coalesce(actual.match_key, amortized.match_key) as match_key,
        coalesce(actual.pair_number, amortized.pair_number) as pair_number,
        {%- for column in shared_columns %}
        coalesce(actual.{{ column }}, amortized.{{ column }}) as {{ column }},
        {%- endfor %}
        coalesce(actual.cost, 0) as billed_cost,
        coalesce(amortized.cost, 0) as effective_cost,
        -- EffectiveCost in the pricing currency, from the same (amortized) row; NULL where the export has no
        -- costInPricingCurrency (int_azure__focus then derives it). 0 where EffectiveCost is 0 by pairing.
        case when amortized.match_key is null then cast(0 as decimal(38, 18)) else amortized.cost_in_pricing_currency end
            as effective_cost_in_pricing_currency,
        actual.effective_price as actual_effective_price,
        amortized.effective_price as amortized_effective_price,
        case
            when actual.match_key is not null and amortized.match_key is not null then 'both'
            when actual.match_key is not null then 'actual_only'
            else 'amortized_only'
        end as paired_from,
        coalesce(actual.source_file, amortized.source_file) as source_file,
        coalesce(actual.source_line, amortized.source_line) as source_line,
        coalesce(actual.source_run_id, amortized.source_run_id) as source_run_id,
        coalesce(actual.export_name, amortized.export_name) as export_name
    from actual
    full outer join amortized
        on actual.account_key = amortized.account_key
        and actual.billing_period = amortized.billing_period
        and actual.match_key = amortized.match_key
        and actual.pair_number = amortized.pair_number
        and not actual.is_unamortized_purchase

)

select * from paired
