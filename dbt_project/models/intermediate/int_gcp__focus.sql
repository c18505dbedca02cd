-- GCP rows in the FOCUS 1.2 column set (see focus_columns()); the cost rules live in int_gcp__line_items.
-- One row per export row of the table that feeds costs, never more or fewer (reconciliation row for row).
with line_items as (

    select * from {{ ref('int_gcp__line_items') }}

),

classified as (

    select
        *,
        case
            when cost_type = 'tax' then 'Tax'
            when cost_type in ('adjustment', 'rounding_error') then 'Adjustment'
            when commitment_fee_kind is not null and is_amortized_fee then 'Purchase'
            -- A month's fee that covered no usage is the commitment's unused part (FOCUS: a Usage row with
            -- CommitmentDiscountStatus 'Unused' keeping its cost), not a purchase of later charges.
            when commitment_fee_kind is not null then 'Usage'
            when cost_type is null or cost_type = 'regular' then 'Usage'
            else 'Adjustment'
        end as charge_category,
        -- An adjustment corrects charges of an earlier invoice (adjustment_info says why).
        (coalesce(cost_type, '') = 'adjustment' or adjustment_type is not null) as is_correction,
        coalesce(cost_at_list, cost) as list_cost,
        -- Google's unit names in FOCUS unit format (the unit itself is unchanged).
        case usage_pricing_unit
            when 'hour' then 'Hours'
            when 'second' then 'Seconds'
            when 'seconds' then 'Seconds'
            when 'month' then 'Months'
            when 'count' then 'Count'
            when 'requests' then 'Requests'
            when 'byte' then 'Bytes'
            when 'bytes' then 'Bytes'
            when 'byte-seconds' then 'Byte-Seconds'
            when 'gibibyte' then 'GiB'
            when 'gibibyte hour' then 'GiB-Hours'
            when 'gibibyte month' then 'GiB-Months'
            when 'gibibyte second' then 'GiB-Seconds'
            when 'tebibyte' then 'TiB'
            when 'mebibyte' then 'MiB'
            else usage_pricing_unit
        end as pricing_unit_focus,
        case usage_unit
            when 'hour' then 'Hours'
            when 'seconds' then 'Seconds'
            when 'second' then 'Seconds'
            when 'requests' then 'Requests'
            when 'count' then 'Count'
            when 'bytes' then 'Bytes'
            when 'byte-seconds' then 'Byte-Seconds'
            when 'gibibyte' then 'GiB'
            when 'gibibyte hour' then 'GiB-Hours'
            when 'gibibyte month' then 'GiB-Months'
            else usage_unit
        end as usage_unit_focus,
        -- Usage amounts are doubles in bronze (byte-seconds can exceed DECIMAL(38,18)); out-of-range ones stay empty.
        case when usage_amount_in_pricing_units between -1e19 and 1e19 then usage_amount_in_pricing_units end
            as pricing_amount,
        case when usage_amount between -1e19 and 1e19 then usage_amount end as usage_amount_checked
    from line_items

),

priced as (

    select
        *,
        -- Usage and purchases always carry a quantity (1 when Google writes none).
        case
            when charge_category in ('Usage', 'Purchase') and not is_correction
                then coalesce(case when usage_pricing_unit is not null then pricing_amount end, 1)
        end as pricing_quantity,
        case
            when commitment_discount_category is null or charge_category not in ('Usage', 'Purchase') then null
            -- A spend-based commitment is counted in money: the fee share a covered row stands for, or the fee.
            when commitment_discount_category = 'Spend' and commitment_fee_kind is null then commitment_share
            when commitment_discount_category = 'Spend' then billed_cost
            -- A resource-based one in its resource units: the covered part of the usage, or the units bought.
            -- (usage amounts are doubles: each branch is made a DECIMAL the same way on every engine,
            -- macros/engine/numbers.sql, rather than by the CASE's own cast)
            when commitment_fee_kind is null and cost > 0
                then {{ costlake_double_to_decimal('pricing_amount * ' ~ costlake_to_double('-credits_committed_usage')
                                                   ~ ' / ' ~ costlake_to_double('cost')) }}
            when commitment_fee_kind is not null then {{ costlake_double_to_decimal('coalesce(pricing_amount, 1)') }}
        end as commitment_quantity
    from classified

),

unit_priced as (

    select
        *,
        case when pricing_quantity is null then null when pricing_quantity = 0 then 0
             else {{ costlake_divide('list_cost', 'pricing_quantity') }} end as list_unit_price,
        case when pricing_quantity is null then null when pricing_quantity = 0 then 0
             else {{ costlake_divide('cost', 'pricing_quantity') }} end as contracted_unit_price
    from priced

),

focus as (

    select
        cast('Google Cloud' as {{ dbt.type_string() }}) as "ProviderName",
        coalesce(seller_name, 'Google Cloud') as "PublisherName",
        cast('Google Cloud' as {{ dbt.type_string() }}) as "InvoiceIssuerName",
        -- The billing export names the invoice month only, not the invoice.
        cast(null as {{ dbt.type_string() }}) as "InvoiceId",
        billing_account_id as "BillingAccountId",
        coalesce(billing_account_name, billing_account_id) as "BillingAccountName",
        cast('Billing Account' as {{ dbt.type_string() }}) as "BillingAccountType",
        -- Charges of no project (rounding errors, some account-level fees) belong to the billing account.
        coalesce(project_id, billing_account_id) as "SubAccountId",
        coalesce(project_name, project_id, billing_account_name, billing_account_id) as "SubAccountName",
        case when project_id is not null then 'Project' else 'Billing Account' end as "SubAccountType",
        currency as "BillingCurrency",
        -- invoice.month is a Pacific-time month; the connector wrote its bounds in UTC.
        billing_period_start_at as "BillingPeriodStart",
        billing_period_end_at as "BillingPeriodEnd",
        usage_start_at as "ChargePeriodStart",
        usage_end_at as "ChargePeriodEnd",
        billed_cost as "BilledCost",
        effective_cost as "EffectiveCost",
        list_cost as "ListCost",
        cost as "ContractedCost",
        charge_category as "ChargeCategory",
        case when is_correction then 'Correction' end as "ChargeClass",
        case
            when commitment_fee_kind is not null then 'Recurring'
            when charge_category = 'Usage' then 'Usage-Based'
            else 'One-Time'
        end as "ChargeFrequency",
        coalesce(adjustment_description, sku_description, cost_type) as "ChargeDescription",
        service_description as "ServiceName",
        case
            when service_description in ('Compute Engine', 'Kubernetes Engine', 'App Engine', 'Cloud Run',
                                         'Cloud Run Functions', 'Cloud Functions', 'Batch', 'VMware Engine')
                then 'Compute'
            when service_description in ('Cloud Storage', 'Filestore', 'Backup and DR Service', 'Artifact Registry',
                                         'Container Registry', 'Persistent Disk')
                then 'Storage'
            when service_description in ('Cloud SQL', 'Cloud Spanner', 'Cloud Bigtable', 'Firestore', 'Datastore',
                                         'Cloud Memorystore for Redis', 'AlloyDB for PostgreSQL')
                then 'Databases'
            when service_description in ('BigQuery', 'BigQuery Storage API', 'BigQuery Reservation API', 'Dataflow',
                                         'Dataproc', 'Cloud Pub/Sub', 'Cloud Composer', 'Looker Studio', 'Data Catalog')
                then 'Analytics'
            when service_description in ('Networking', 'Cloud DNS', 'Cloud CDN', 'Cloud Load Balancing', 'Cloud NAT',
                                         'Cloud Interconnect', 'Cloud VPN', 'Network Intelligence Center')
                then 'Networking'
            when service_description in ('Vertex AI', 'Cloud Vision API', 'Cloud Natural Language API', 'Speech-to-Text',
                                         'Cloud Translation', 'Document AI', 'Gemini API')
                then 'AI and Machine Learning'
            when service_description in ('Cloud Logging', 'Cloud Monitoring', 'Stackdriver Logging',
                                         'Stackdriver Monitoring', 'Cloud Trace')
                then 'Management and Governance'
            when service_description in ('Security Command Center', 'Cloud Key Management Service (KMS)', 'Secret Manager',
                                         'Cloud Armor', 'Identity Platform')
                then 'Security'
            when service_description in ('Cloud Build', 'Cloud Source Repositories', 'Cloud Deploy')
                then 'Developer Tools'
            else 'Other'
        end as "ServiceCategory",
        location_region as "RegionId",
        case
            when location_region is null then null
            when location_region = 'us-central1' then 'Iowa'
            when location_region = 'us-east1' then 'South Carolina'
            when location_region = 'us-east4' then 'Northern Virginia'
            when location_region = 'us-east5' then 'Columbus'
            when location_region = 'us-south1' then 'Dallas'
            when location_region = 'us-west1' then 'Oregon'
            when location_region = 'us-west2' then 'Los Angeles'
            when location_region = 'us-west3' then 'Salt Lake City'
            when location_region = 'us-west4' then 'Las Vegas'
            when location_region = 'northamerica-northeast1' then 'Montréal'
            when location_region = 'northamerica-northeast2' then 'Toronto'
            when location_region = 'southamerica-east1' then 'São Paulo'
            when location_region = 'europe-west1' then 'Belgium'
            when location_region = 'europe-west2' then 'London'
            when location_region = 'europe-west3' then 'Frankfurt'
            when location_region = 'europe-west4' then 'Netherlands'
            when location_region = 'europe-west6' then 'Zurich'
            when location_region = 'europe-west8' then 'Milan'
            when location_region = 'europe-west9' then 'Paris'
            when location_region = 'europe-north1' then 'Finland'
            when location_region = 'europe-central2' then 'Warsaw'
            when location_region = 'asia-east1' then 'Taiwan'
            when location_region = 'asia-east2' then 'Hong Kong'
            when location_region = 'asia-northeast1' then 'Tokyo'
            when location_region = 'asia-northeast2' then 'Osaka'
            when location_region = 'asia-northeast3' then 'Seoul'
            when location_region = 'asia-south1' then 'Mumbai'
            when location_region = 'asia-southeast1' then 'Singapore'
            when location_region = 'asia-southeast2' then 'Jakarta'
            when location_region = 'australia-southeast1' then 'Sydney'
            when location_region = 'australia-southeast2' then 'Melbourne'
            when location_region = 'me-west1' then 'Tel Aviv'
            when location_region = 'africa-south1' then 'Johannesburg'
            else location_region
        end as "RegionName",
        location_zone as "AvailabilityZone",
        resource_global_name as "ResourceId",
        resource_name as "ResourceName",
        case when resource_global_name is not null then coalesce(resource_type, service_description) end
            as "ResourceType",
        sku_id as "SkuId",
        -- The price tier (price.tier_start_amount) is not read: no SkuPriceId.
        cast(null as {{ dbt.type_string() }}) as "SkuPriceId",
        case when sku_id is not null then sku_description end as "SkuMeter",
        cast(null as {{ dbt.type_string() }}) as "SkuPriceDetails",
        case
            when charge_category not in ('Usage', 'Purchase') or is_correction then null
            when commitment_discount_category is not null then 'Committed'
            else 'Standard'
        end as "PricingCategory",
        pricing_quantity as "PricingQuantity",
        case when pricing_quantity is not null then coalesce(pricing_unit_focus, 'Units') end as "PricingUnit",
        list_unit_price as "ListUnitPrice",
        contracted_unit_price as "ContractedUnitPrice",
        -- The export's costs are in the billing currency (converted with currency_conversion_rate), so the
        -- PricingCurrency* columns repeat the billing-currency figures.
        currency as "PricingCurrency",
        effective_cost as "PricingCurrencyEffectiveCost",
        list_unit_price as "PricingCurrencyListUnitPrice",
        contracted_unit_price as "PricingCurrencyContractedUnitPrice",
        case when charge_category = 'Usage' and not is_correction and commitment_fee_kind is null and usage_unit is not null
            then usage_amount_checked end as "ConsumedQuantity",
        case when charge_category = 'Usage' and not is_correction and commitment_fee_kind is null and usage_unit is not null
                  and usage_amount_checked is not null then usage_unit_focus end as "ConsumedUnit",
        case when commitment_discount_category is not null
             then coalesce(commitment_credit_id, sku_id) end as "CommitmentDiscountId",
        case when commitment_discount_category is not null
             then coalesce(commitment_credit_name, sku_description) end as "CommitmentDiscountName",
        case commitment_discount_category
            when 'Usage' then 'Committed Use Discount (resource-based)'
            when 'Spend' then 'Committed Use Discount (spend-based)'
        end as "CommitmentDiscountType",
        commitment_discount_category as "CommitmentDiscountCategory",
        -- Covered usage used the commitment, a fee of a month without covered usage is unused; how much of a
        -- fee went unused in a month with covered usage the export does not say.
        case
            when commitment_discount_category is null or charge_category != 'Usage' then null
            when commitment_fee_kind is not null then 'Unused'
            else 'Used'
        end as "CommitmentDiscountStatus",
        commitment_quantity as "CommitmentDiscountQuantity",
        case
            when commitment_quantity is null then null
            when commitment_discount_category = 'Spend' then currency
            else coalesce(pricing_unit_focus, 'Units')
        end as "CommitmentDiscountUnit",
        cast(null as {{ dbt.type_string() }}) as "CapacityReservationId",
        cast(null as {{ dbt.type_string() }}) as "CapacityReservationStatus",
        tags_json as "Tags",
        account_key as "x_AccountKey",
        billing_period as "x_BillingMonth",
        cast('cost_plus_credits' as {{ dbt.type_string() }}) as "x_CostBasis",
        cast(null as decimal(38,18)) as "x_UnblendedCost",
        cast(null as decimal(38,18)) as "x_BlendedCost",
        cost_type as "x_ChargeType",
        usage_unit as "x_UsageType",
        cast(null as {{ dbt.type_string() }}) as "x_Operation",
        line_item_id as "x_LineItemId",
        {{ dbt.concat(["dataset", "':'", "source_format"]) }} as "x_ExportFormat",
        source_file as "x_SourceFile",
        source_run_id as "x_SourceRunId",
        usage_pricing_unit as "x_PricingUnit"
    from unit_priced

)

select * from focus
