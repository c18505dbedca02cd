-- Kept OCI cost report lines (corrections applied) in the FOCUS 1.2 column set (see focus_columns()).
with line_items as (

    select * from {{ ref('int_oci__cost_line_items') }}
    where drop_reason is null

),

-- The cost report names no tenancy, but OCI's root compartment IS the tenancy (its OCID is the tenancy
-- OCID), so the root compartment's product/compartmentName is the tenancy's name: the fallback when the
-- registry names none. Taken from every line of the month (replaced lines too).
tenancies as (

    -- Within the (tenancy, month) partition, like every rule here: a partition's rows never depend on
    -- which other months happen to be built with it.
    select account_key as tenancy_account_key, billing_period as tenancy_billing_period,
           tenant_id as tenancy_id, max(compartment_name) as tenancy_name
    from {{ ref('int_oci__cost_line_items') }}
    where compartment_id = tenant_id and compartment_name is not null
    group by 1, 2, 3

),

-- The name the registry entry gives the tenancy (`name:`), the first choice: the report may have no
-- root-compartment line at all.
registered as (

    select account_key as registered_key, tenancy_name as registered_name
    from {{ ref('stg_oci__tenancies') }}

),

named as (

    select
        line_items.*,
        tenancies.tenancy_name,
        registered.registered_name,
        -- cost/skuUnitDescription in FOCUS UnitFormat: 'OCPU Per Hour' -> 'OCPU-Hours', 'GB Months' ->
        -- 'GB-Months', 'Million Datapoints' -> '1000000 Datapoints', '10,000 Requests' -> '10000 Requests'.
        case
            when sku_unit_description is null then null
            when lower(sku_unit_description) in ('gigabyte storage capacity per month', 'gigabytes per month',
                                                 'gb per month', 'gb months', 'gigabyte months')
                then 'GB-Months'
            when lower(sku_unit_description) like '% per hour'
                then {{ dbt.concat(["trim(left(sku_unit_description, length(sku_unit_description) - 9))", "'-Hours'"]) }}
            when lower(sku_unit_description) like '% per month'
                then {{ dbt.concat(["trim(left(sku_unit_description, length(sku_unit_description) - 10))", "'-Months'"]) }}
            when lower(sku_unit_description) like '% months'
                then {{ dbt.concat(["trim(left(sku_unit_description, length(sku_unit_description) - 7))", "'-Months'"]) }}
            when lower(sku_unit_description) like '% hours'
                then {{ dbt.concat(["trim(left(sku_unit_description, length(sku_unit_description) - 6))", "'-Hours'"]) }}
            when lower(sku_unit_description) like 'million %'
                then {{ dbt.concat(["'1000000 '", "trim(substr(sku_unit_description, 9))"]) }}
            when {{ costlake_regexp_matches('sku_unit_description', "'^[0-9][0-9,]* '") }}
                then replace(sku_unit_description, ',', '')
            else sku_unit_description
        end as pricing_unit_focus,
        -- The usage report measures in milliseconds ('MS', 'GB_MS'): FOCUS has no such time unit, so the
        -- consumed quantity is turned into seconds (exact: x 0.001).
        case upper(consumed_unit)
            when 'MS' then 'Seconds'
            when 'GB_MS' then 'GB-Seconds'
            when 'TB_MS' then 'TB-Seconds'
            when 'BYTE_MS' then 'Byte-Seconds'
            when 'COUNT' then 'Count'
            when 'BYTES' then 'Bytes'
            when 'BYTE' then 'Bytes'
            else consumed_unit
        end as consumed_unit_focus,
        case when upper(consumed_unit) in ('MS', 'GB_MS', 'TB_MS', 'BYTE_MS')
            then consumed_quantity * 0.001 else consumed_quantity end as consumed_quantity_focus
    from line_items
    left join tenancies
        on line_items.account_key = tenancies.tenancy_account_key
        and line_items.billing_period = tenancies.tenancy_billing_period
        and line_items.tenant_id = tenancies.tenancy_id
    left join registered
        on line_items.account_key = registered.registered_key

),

focus as (

    select
        cast('Oracle' as {{ dbt.type_string() }}) as "ProviderName",
        cast('Oracle' as {{ dbt.type_string() }}) as "PublisherName",
        cast('Oracle' as {{ dbt.type_string() }}) as "InvoiceIssuerName",
        tenant_id as "BillingAccountId",
        -- The registry's name for the tenancy, else the report's (root compartment, see `tenancies`), else
        -- its OCID.
        case when tenant_id is not null then coalesce(registered_name, tenancy_name, tenant_id) end
            as "BillingAccountName",
        case when tenant_id is not null then 'Tenancy' end as "BillingAccountType",
        -- OCI's unit of cost allocation below the tenancy is the compartment (the root compartment's
        -- OCID is the tenancy's own).
        compartment_id as "SubAccountId",
        compartment_name as "SubAccountName",
        case when compartment_id is not null then 'Compartment' end as "SubAccountType",
        currency as "BillingCurrency",
        cast({{ dbt.concat(["billing_period", "'-01'"]) }} as {{ dbt.type_timestamp() }}) as "BillingPeriodStart",
        {{ dbt.dateadd('month', 1, "cast(" ~ dbt.concat(["billing_period", "'-01'"]) ~ " as " ~ dbt.type_timestamp() ~ ")") }}
            as "BillingPeriodEnd",
        usage_start_at as "ChargePeriodStart",
        usage_end_at as "ChargePeriodEnd",
        -- cost/myCost already includes any overage (Oracle: "billedQuantity, myCost and unitPrice are
        -- inclusive of Overage numbers"): adding cost/myCostOverage would count it twice.
        my_cost as "BilledCost",
        -- OCI bills commitments (Universal Credits) as they are consumed: nothing to amortize.
        my_cost as "EffectiveCost",
        -- The cost report carries no list (public) price: cost/unitPrice is the rate the tenancy is charged
        -- (its negotiated rate where it has one), cost/unitPriceOverage the rate of usage beyond a commitment,
        -- and no column gives the discount between either and the public price. FOCUS allows no NULL ListCost,
        -- so ListCost is the cost at the price the report does carry: ListCost = BilledCost = cost/myCost
        -- (exact for pay-as-you-go tenancies, which pay list price; understated where a tenancy has negotiated
        -- rates). Credits carry their billed amount, as FOCUS requires of charges unrelated to others.
        my_cost as "ListCost",
        my_cost as "ContractedCost",
        case when my_cost < 0 then 'Credit' else 'Usage' end as "ChargeCategory",
        case when is_correction then 'Correction' end as "ChargeClass",
        cast('Usage-Based' as {{ dbt.type_string() }}) as "ChargeFrequency",
        product_description as "ChargeDescription",
        service as "ServiceName",
        case
            when upper(service) in ('COMPUTE', 'CONTAINER_ENGINE', 'FUNCTIONS', 'OKE') then 'Compute'
            when upper(service) in ('BLOCK_STORAGE', 'OBJECTSTORE', 'OBJECT_STORAGE', 'FILE_STORAGE', 'ARCHIVE_STORAGE')
                then 'Storage'
            when upper(service) in ('DATABASE', 'AUTONOMOUS_DATABASE', 'MYSQL', 'NOSQL', 'EXADATA') then 'Databases'
            when upper(service) in ('NETWORK', 'VCN', 'LOAD_BALANCER', 'FASTCONNECT', 'DNS', 'NETWORK_LOAD_BALANCER')
                then 'Networking'
            when upper(service) in ('TELEMETRY', 'MONITORING', 'LOGGING', 'NOTIFICATIONS', 'EVENTS') then 'Management and Governance'
            when upper(service) in ('API_GATEWAY') then 'Web'
            when upper(service) in ('VAULT', 'KMS', 'CLOUD_GUARD', 'WAF') then 'Security'
            else 'Other'
        end as "ServiceCategory",
        region as "RegionId",
        region as "RegionName",
        availability_domain as "AvailabilityZone",
        resource_id as "ResourceId",
        -- An OCID names its resource type: ocid1.<type>.<realm>.[region].<unique id> ('instance', 'volume',
        -- 'autonomousdatabase'). Ids that are not OCIDs fall back to the service.
        case when resource_id is not null
            then coalesce(
                case when resource_id like 'ocid1.%' then nullif({{ dbt.split_part('resource_id', "'.'", 2) }}, '') end,
                lower(service),
                'unknown'
            )
        end as "ResourceType",
        sku_id as "SkuId",
        -- What the SKU meters: the product's description ('Compute - Standard - E4 - OCPU').
        case when sku_id is not null then product_description end as "SkuMeter",
        billed_quantity as "PricingQuantity",
        case when billed_quantity is not null then pricing_unit_focus end as "PricingUnit",
        consumed_quantity_focus as "ConsumedQuantity",
        case when consumed_quantity_focus is not null then consumed_unit_focus end as "ConsumedUnit",
        -- cost/currencyCode is the currency the tenancy is priced and billed in: one currency for both, so
        -- the PricingCurrency* columns repeat the billing-currency figures.
        currency as "PricingCurrency",
        my_cost as "PricingCurrencyEffectiveCost",
        cast(null as {{ dbt.type_string() }}) as "CommitmentDiscountId",
        cast(null as {{ dbt.type_string() }}) as "CommitmentDiscountType",
        cast(null as {{ dbt.type_string() }}) as "CommitmentDiscountCategory",
        tags_json as "Tags",
        account_key as "x_AccountKey",
        billing_period as "x_BillingMonth",
        cast('myCost' as {{ dbt.type_string() }}) as "x_CostBasis",
        cast(null as {{ dbt.type_numeric() }}) as "x_UnblendedCost",
        cast(null as {{ dbt.type_numeric() }}) as "x_BlendedCost",
        case when is_correction then 'Correction' else 'Usage' end as "x_ChargeType",
        billing_unit_readable as "x_UsageType",
        cast(null as {{ dbt.type_string() }}) as "x_Operation",
        reference_no as "x_LineItemId",
        cast('oci-cost-csv' as {{ dbt.type_string() }}) as "x_ExportFormat",
        source_file as "x_SourceFile",
        source_run_id as "x_SourceRunId",
        sku_unit_description as "x_PricingUnit"
    from named

)

select * from focus
