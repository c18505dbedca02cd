-- Kept AWS rows in the FOCUS 1.2 column set (see focus_columns()). One row per CUR line item: `costs`
-- must add up to the export row for row (reconciliation, no-duplicate checks), so AWS lines that FOCUS
-- would split (a recurring commitment fee that also carries the unused part of the commitment) stay one
-- row (docs/focus-deviations.md). The one addition: a purchase AWS does not amortize also gets a row of its
-- consumption (BilledCost 0, x_LineItemId '<line id>:consumption'; see `split`).
-- Every CTE below is read exactly once, and the month of line items is read from the upstream view
-- directly wherever it is needed: DuckDB materializes a CTE referenced twice (writes every column of
-- every line to a temporary table, ~60 s at 10M rows), and the NOT MATERIALIZED hint does not survive
-- in a view stored in a database file (DuckDB 1.5 drops it on serialization).
with service_categories as (

    select product_code as category_product_code, service_category, service_subcategory
    from {{ ref('aws_service_categories') }}

),

-- The payer's registered name: legacy CUR has no bill_payer_account_name column.
payer_names as (

    select payer_key, usage_account_name as registered_payer_name
    from {{ ref('stg_aws__payer_accounts') }}
    where usage_account_id = payer_account_id

),

-- Per reservation and export month: the RI hours used (DiscountedUsage, from every row of the
-- export, kept or not: an unregistered account's instance still consumes the payer's RI) and the
-- RI's hourly rates. The bronze carries no reservation_unused_quantity / total_reserved_units, so the
-- unused hours and the hours bought upfront are derived from these.
reservations as (

    select
        account_key as ri_account_key,
        billing_period_start_at as ri_billing_period_start_at,
        reservation_arn as ri_arn,
        sum(case when line_item_type = 'DiscountedUsage' then usage_amount end) as ri_used_hours,
        sum(case when line_item_type = 'DiscountedUsage' then reservation_effective_cost end) as ri_used_effective_cost,
        max(case when line_item_type = 'RIFee' then unblended_rate end) as ri_recurring_rate
    from {{ ref('int_aws__line_items') }}
    where reservation_arn is not null
        and not coalesce(is_split_allocation, false)
    group by 1, 2, 3

),

-- One product name per product code and one region name per region id: some line items (fees, tax,
-- credits) leave product_name / region_name empty while other lines of the same code carry it. A
-- grouped lookup, not a window over every line: the window sorts the whole month (measured 10x slower).
-- Both lookups stay inside the (source, billing month) partition, like every rule here: a partition's
-- rows must not depend on which other months happen to be built with it.
service_names as (

    select
        account_key as sn_account_key,
        billing_period as sn_billing_period,
        product_code as service_product_code,
        max(product_name) as service_product_name
    from {{ ref('int_aws__line_items') }}
    where drop_reason is null and product_code is not null
    group by 1, 2, 3

),

region_names as (

    select
        account_key as rn_account_key,
        billing_period as rn_billing_period,
        region_id as region_id_of_name,
        max(region_name) as region_name_of_id
    from {{ ref('int_aws__line_items') }}
    where drop_reason is null and region_id is not null
    group by 1, 2, 3

),

classified as (

    select
        kept.*,
        service_categories.service_category,
        service_categories.service_subcategory,
        payer_names.registered_payer_name,
        reservations.ri_used_hours,
        reservations.ri_used_effective_cost,
        reservations.ri_recurring_rate,
        case
            when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') then 'Usage'
            -- A recurring RI / Savings Plan fee line is AWS's only carrier of the commitment's unused
            -- part (its amortized cost is the unused amount). FOCUS represents the unused part as a
            -- Usage row with CommitmentDiscountStatus 'Unused'; the line keeps its billed fee.
            when line_item_type in ('RIFee', 'SavingsPlanRecurringFee') then 'Usage'
            when line_item_type in ('Fee', 'SavingsPlanUpfrontFee') then 'Purchase'
            when line_item_type = 'Tax' then 'Tax'
            -- The negation line takes back the on-demand cost of Savings Plan covered usage.
            when line_item_type in ('SavingsPlanNegation', 'Credit', 'Refund', 'EdpDiscount', 'PrivateRateDiscount',
                                    'SppDiscount', 'BundledDiscount', 'Discount', 'DistributorDiscount',
                                    'RiVolumeDiscount')
                then 'Credit'
            else 'Adjustment'
        end as charge_category,
        case
            when line_item_type in ('DiscountedUsage', 'SavingsPlanCoveredUsage') then 'Used'
            when line_item_type in ('RIFee', 'SavingsPlanRecurringFee') then 'Unused'
        end as commitment_status,
        -- A refund corrects an earlier billing period's charge.
        line_item_type = 'Refund' as is_correction,
        coalesce(savings_plan_arn, reservation_arn) as commitment_id,
        case when savings_plan_arn is not null then 'Savings Plan'
             when reservation_arn is not null then 'Reserved Instance' end as commitment_type,
        -- AWS's abbreviations in FOCUS UnitFormat (the unit itself is unchanged): Hrs -> Hours, GB-Mo ->
        -- GB-Months, vCPU-Hrs -> vCPU-Hours, Lambda-GB-Second -> GB-Seconds. Suffix LIKEs, not regexes: this
        -- runs on every line of the month.
        case
            when pricing_unit in ('Hrs', 'Hr', 'Hour') then 'Hours'
            when pricing_unit in ('Lambda-GB-Second', 'Lambda-GB-Second-ARM') then 'GB-Seconds'
            when pricing_unit like '%-Hrs' then {{ dbt.concat(["left(pricing_unit, length(pricing_unit) - 3)", "'Hours'"]) }}
            when pricing_unit like '%-Hr' then {{ dbt.concat(["left(pricing_unit, length(pricing_unit) - 2)", "'Hours'"]) }}
            when pricing_unit like '%-Mo' then {{ dbt.concat(["left(pricing_unit, length(pricing_unit) - 2)", "'Months'"]) }}
            when pricing_unit like '%-Hour' or pricing_unit like '%-Month' or pricing_unit like '%-Second'
                then {{ dbt.concat(["pricing_unit", "'s'"]) }}
            else pricing_unit
        end as pricing_unit_focus,
        -- A purchase AWS does not amortize (a non-commitment Fee: Marketplace annual subscription, domain
        -- registration): FOCUS wants its EffectiveCost 0 and the cost on what it pays for, which CUR does not
        -- itemize. The line becomes the Purchase (billed, EffectiveCost 0) and, in `split` below, a Usage row
        -- of its consumption in the same charge period (BilledCost 0, EffectiveCost = its cost).
        coalesce(line_item_type = 'Fee' and reservation_arn is null and savings_plan_arn is null, false)
            as is_unamortized_purchase,
        -- AWS keys its service by product code; one name and one category per code.
        coalesce(service_names.service_product_name, product_name, product_code) as service_name,
        coalesce(region_name, region_names.region_name_of_id, region_id) as region_name_filled
    from {{ ref('int_aws__line_items') }} as kept
    left join service_categories
        on kept.product_code = service_categories.category_product_code
    left join payer_names
        on kept.account_key = payer_names.payer_key
    left join service_names
        on kept.account_key = service_names.sn_account_key
        and kept.billing_period = service_names.sn_billing_period
        and kept.product_code = service_names.service_product_code
    left join region_names
        on kept.account_key = region_names.rn_account_key
        and kept.billing_period = region_names.rn_billing_period
        and kept.region_id = region_names.region_id_of_name
    left join reservations
        on kept.account_key = reservations.ri_account_key
        and kept.billing_period_start_at = reservations.ri_billing_period_start_at
        and kept.reservation_arn = reservations.ri_arn
    where kept.drop_reason is null

),

priced as (

    select
        classified.*,
        coalesce(public_on_demand_cost, unblended_cost) as list_cost,
        case
            when charge_category in ('Usage', 'Purchase') then coalesce(sku_id, usage_type, product_code)
            when charge_category != 'Tax' then sku_id
        end as sku,
        -- Tax and credits carry no quantity; usage and purchases always do (a count of 1 when AWS
        -- writes an amount without a unit, e.g. a Marketplace or upfront fee).
        case
            when charge_category in ('Usage', 'Purchase') and not is_correction then coalesce(usage_amount, 1)
        end as pricing_quantity
    from classified

),

unit_priced as (

    select
        priced.*,
        -- AWS's unblended rate is the contracted unit price, and the list one where the line was charged
        -- at list. The public on-demand rate is not in the bronze: elsewhere the list unit price is
        -- ListCost / PricingQuantity (a floating-point quotient, exact to ~15 significant digits, the same
        -- on every engine: macros/engine/numbers.sql).
        case
            when pricing_quantity is null then null
            when unblended_rate is not null and list_cost = unblended_cost then unblended_rate
            when pricing_quantity = 0 then 0
            else {{ costlake_divide('list_cost', 'pricing_quantity') }}
        end as list_unit_price,
        case
            when pricing_quantity is null then null
            when unblended_rate is not null then unblended_rate
            when pricing_quantity = 0 then 0
            else {{ costlake_divide('unblended_cost', 'pricing_quantity') }}
        end as contracted_unit_price,
        -- CommitmentDiscountQuantity: the commitment units the row uses, leaves unused or buys.
        case
            when commitment_id is null or charge_category not in ('Usage', 'Purchase') then null
            when line_item_type = 'SavingsPlanCoveredUsage' then coalesce(savings_plan_effective_cost, 0)
            when line_item_type = 'SavingsPlanRecurringFee'
                then coalesce(savings_plan_total_commitment_to_date, 0) - coalesce(savings_plan_used_commitment, 0)
            when line_item_type = 'SavingsPlanUpfrontFee' then unblended_cost
            when line_item_type = 'DiscountedUsage' then usage_amount
            -- Reserved hours of the month (RIFee usage amount) minus the hours used.
            when line_item_type = 'RIFee'
                then case when usage_amount > coalesce(ri_used_hours, 0) then usage_amount - coalesce(ri_used_hours, 0)
                          else 0 end
            -- The upfront payment buys (fee / upfront hourly rate) hours over the term; the upfront
            -- hourly rate is the used hours' effective rate minus the recurring rate.
            when line_item_type = 'Fee'
                 and ri_used_hours > 0
                 and {{ costlake_divide('ri_used_effective_cost', 'ri_used_hours') }} > coalesce(ri_recurring_rate, 0)
                then {{ costlake_divide('unblended_cost',
                                        costlake_divide('ri_used_effective_cost', 'ri_used_hours')
                                        ~ ' - coalesce(ri_recurring_rate, 0)') }}
        end as commitment_quantity
    from priced

),

-- One row per line, and a second one (is_consumption) for each purchase AWS does not amortize: an
-- equi-join to three constant rows (a hash join with a tiny build side) rather than a UNION, so that
-- unit_priced is read once (see the top of the model).
split as (

    select unit_priced.*, parts.is_consumption
    from unit_priced
    inner join (values (false, false), (true, false), (true, true)) as parts (for_unamortized, is_consumption)
        on unit_priced.is_unamortized_purchase = parts.for_unamortized

),

focus as (

    select
        cast('AWS' as {{ dbt.type_string() }}) as "ProviderName",
        case when billing_entity = 'AWS Marketplace' then coalesce(legal_entity, 'AWS Marketplace')
             else 'AWS' end as "PublisherName",
        -- Every CUR invoicing entity is an AWS legal entity (Amazon Web Services, Inc., ... EMEA SARL):
        -- the issuer is AWS, named as ProviderName is; the legal entity is kept in x_InvoicingEntity.
        cast('AWS' as {{ dbt.type_string() }}) as "InvoiceIssuerName",
        invoicing_entity as "x_InvoicingEntity",
        invoice_id as "InvoiceId",
        payer_account_id as "BillingAccountId",
        coalesce(payer_account_name, registered_payer_name, payer_account_id) as "BillingAccountName",
        cast('Payer Account' as {{ dbt.type_string() }}) as "BillingAccountType",
        usage_account_id as "SubAccountId",
        coalesce(usage_account_name, registered_account_name, usage_account_id) as "SubAccountName",
        cast('Usage Account' as {{ dbt.type_string() }}) as "SubAccountType",
        currency as "BillingCurrency",
        billing_period_start_at as "BillingPeriodStart",
        billing_period_end_at as "BillingPeriodEnd",
        usage_start_at as "ChargePeriodStart",
        usage_end_at as "ChargePeriodEnd",
        case when is_consumption then 0 else billed_cost end as "BilledCost",
        case when is_unamortized_purchase and not is_consumption then 0 else effective_cost end as "EffectiveCost",
        -- The consumption row was paid for by its purchase: its list and contracted figures are 0 there, so
        -- that every cost column still adds up across rows.
        case when is_consumption then 0 else list_cost end as "ListCost",
        case when is_consumption then 0 else unblended_cost end as "ContractedCost",
        case when is_consumption then 'Usage' else charge_category end as "ChargeCategory",
        case when is_correction then 'Correction' end as "ChargeClass",
        case
            when line_item_type in ('RIFee', 'SavingsPlanRecurringFee') then 'Recurring'
            when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation')
                then 'Usage-Based'
            else 'One-Time'
        end as "ChargeFrequency",
        coalesce(description, usage_type, line_item_type) as "ChargeDescription",
        service_name as "ServiceName",
        coalesce(service_category, 'Other') as "ServiceCategory",
        coalesce(service_subcategory, {{ dbt.concat(["'Other ('", "coalesce(service_category, 'Other')", "')'"]) }})
            as "ServiceSubcategory",
        region_id as "RegionId",
        case when region_id is not null then region_name_filled end as "RegionName",
        availability_zone as "AvailabilityZone",
        -- FOCUS: a commitment's own rows (purchase, unused) name the commitment as their resource.
        case when line_item_type in ('RIFee', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee', 'Fee')
                  and commitment_id is not null
                 then commitment_id
             else resource_id end as "ResourceId",
        -- CUR has no resource display name (the user:Name tag is in Tags).
        cast(null as {{ dbt.type_string() }}) as "ResourceName",
        case
            when line_item_type in ('RIFee', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee', 'Fee')
                 and commitment_id is not null
                then commitment_type
            when resource_id is not null then coalesce(product_family, service_name)
        end as "ResourceType",
        -- SKU: AWS's product SKU. Usage and purchases must name one; commitment fee lines carry none,
        -- their usage type names the offering (e.g. HeavyUsage:m5.xlarge, ComputeSP:1yrNoUpfront).
        sku as "SkuId",
        -- CUR's pricing_rate_code is not in the bronze: the price is the SKU's under its pricing term.
        case when sku is not null
            then {{ dbt.concat(["sku", "'.'", "coalesce(pricing_term, line_item_type)"]) }} end as "SkuPriceId",
        case when sku is not null then coalesce(usage_type, operation, line_item_type) end as "SkuMeter",
        cast(null as {{ dbt.type_string() }}) as "SkuPriceDetails",
        case
            when charge_category not in ('Usage', 'Purchase') or is_correction then null
            when commitment_status is not null then 'Committed'
            when pricing_term = 'Spot' or usage_type like '%SpotUsage%' then 'Dynamic'
            else 'Standard'
        end as "PricingCategory",
        pricing_quantity as "PricingQuantity",
        case when pricing_quantity is not null
            then coalesce(
                pricing_unit_focus,
                case when line_item_type in ('RIFee', 'SavingsPlanRecurringFee') then 'Hours' else 'Units' end
            )
        end as "PricingUnit",
        case when is_consumption then 0 else list_unit_price end as "ListUnitPrice",
        case when is_consumption then 0 else contracted_unit_price end as "ContractedUnitPrice",
        -- CUR costs are in the currency AWS prices in (line_item_currency_code): pricing and billing
        -- currency are the same, so the PricingCurrency* columns repeat the billing-currency figures.
        currency as "PricingCurrency",
        case when is_unamortized_purchase and not is_consumption then 0 else effective_cost end
            as "PricingCurrencyEffectiveCost",
        case when is_consumption then 0 else list_unit_price end as "PricingCurrencyListUnitPrice",
        case when is_consumption then 0 else contracted_unit_price end as "PricingCurrencyContractedUnitPrice",
        case
            when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') then usage_amount
            when is_consumption then pricing_quantity
        end as "ConsumedQuantity",
        case
            when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') and usage_amount is not null
                then coalesce(pricing_unit_focus, 'Units')
            when is_consumption then coalesce(pricing_unit_focus, 'Units')
        end as "ConsumedUnit",
        commitment_id as "CommitmentDiscountId",
        commitment_type as "CommitmentDiscountType",
        case when savings_plan_arn is not null then 'Spend'
             when reservation_arn is not null then 'Usage' end as "CommitmentDiscountCategory",
        -- AWS has no display name for a reservation or Savings Plan.
        cast(null as {{ dbt.type_string() }}) as "CommitmentDiscountName",
        commitment_status as "CommitmentDiscountStatus",
        commitment_quantity as "CommitmentDiscountQuantity",
        -- Savings Plans are spend commitments, counted in the billing currency; RIs in hours.
        case
            when commitment_quantity is null then null
            when savings_plan_arn is not null then currency
            else 'Hours'
        end as "CommitmentDiscountUnit",
        -- The connector does not read CUR's capacity_reservation_* columns yet.
        cast(null as {{ dbt.type_string() }}) as "CapacityReservationId",
        cast(null as {{ dbt.type_string() }}) as "CapacityReservationStatus",
        tags_json as "Tags",
        account_key as "x_AccountKey",
        billing_period as "x_BillingMonth",
        cost_basis as "x_CostBasis",
        unblended_cost as "x_UnblendedCost",
        blended_cost as "x_BlendedCost",
        line_item_type as "x_ChargeType",
        usage_type as "x_UsageType",
        operation as "x_Operation",
        case when is_consumption then {{ dbt.concat(["line_item_id", "':consumption'"]) }} else line_item_id end
            as "x_LineItemId",
        export_format as "x_ExportFormat",
        source_file as "x_SourceFile",
        source_run_id as "x_SourceRunId",
        pricing_unit as "x_PricingUnit"
    from split

)

select * from focus
