-- Kept AWS rows in the FOCUS 1.2 column set (see focus_columns()).
with line_items as (

    select * from {{ ref('int_aws__line_items') }}
    where drop_reason is null

),

service_categories as (

    select product_code as category_product_code, service_category
    from {{ ref('aws_service_categories') }}

),

focus as (

    select
        cast('AWS' as {{ dbt.type_string() }}) as "ProviderName",
        case when billing_entity = 'AWS Marketplace' then coalesce(legal_entity, 'AWS Marketplace')
             else 'AWS' end as "PublisherName",
        coalesce(invoicing_entity, 'AWS') as "InvoiceIssuerName",
        payer_account_id as "BillingAccountId",
        payer_account_name as "BillingAccountName",
        usage_account_id as "SubAccountId",
        coalesce(usage_account_name, registered_account_name) as "SubAccountName",
        currency as "BillingCurrency",
        billing_period_start_at as "BillingPeriodStart",
        billing_period_end_at as "BillingPeriodEnd",
        usage_start_at as "ChargePeriodStart",
        usage_end_at as "ChargePeriodEnd",
        billed_cost as "BilledCost",
        effective_cost as "EffectiveCost",
        coalesce(public_on_demand_cost, unblended_cost) as "ListCost",
        unblended_cost as "ContractedCost",
        case
            when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation')
                then 'Usage'
            when line_item_type in ('Fee', 'RIFee', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee')
                then 'Purchase'
            when line_item_type = 'Tax' then 'Tax'
            when line_item_type in ('Credit', 'Refund', 'EdpDiscount', 'PrivateRateDiscount', 'SppDiscount',
                                    'BundledDiscount', 'Discount', 'DistributorDiscount')
                then 'Credit'
            else 'Adjustment'
        end as "ChargeCategory",
        case when line_item_type = 'Refund' then 'Correction' end as "ChargeClass",
        case
            when line_item_type in ('RIFee', 'SavingsPlanRecurringFee') then 'Recurring'
            when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation')
                then 'Usage-Based'
            else 'One-Time'
        end as "ChargeFrequency",
        description as "ChargeDescription",
        coalesce(product_name, service_code, product_code) as "ServiceName",
        coalesce(service_categories.service_category, 'Other') as "ServiceCategory",
        region_id as "RegionId",
        region_name as "RegionName",
        availability_zone as "AvailabilityZone",
        resource_id as "ResourceId",
        sku_id as "SkuId",
        case when usage_amount is not null and pricing_unit is not null then usage_amount end as "PricingQuantity",
        pricing_unit as "PricingUnit",
        case when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') then usage_amount end
            as "ConsumedQuantity",
        case when line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') then pricing_unit end
            as "ConsumedUnit",
        coalesce(savings_plan_arn, reservation_arn) as "CommitmentDiscountId",
        case when savings_plan_arn is not null then 'Savings Plan'
             when reservation_arn is not null then 'Reserved Instance' end as "CommitmentDiscountType",
        case when savings_plan_arn is not null then 'Spend'
             when reservation_arn is not null then 'Usage' end as "CommitmentDiscountCategory",
        tags_json as "Tags",
        account_key as "x_AccountKey",
        cost_basis as "x_CostBasis",
        unblended_cost as "x_UnblendedCost",
        blended_cost as "x_BlendedCost",
        line_item_type as "x_ChargeType",
        usage_type as "x_UsageType",
        operation as "x_Operation",
        line_item_id as "x_LineItemId",
        export_format as "x_ExportFormat",
        source_file as "x_SourceFile",
        source_run_id as "x_SourceRunId"
    from line_items
    left join service_categories
        on line_items.product_code = service_categories.category_product_code

)

select * from focus
