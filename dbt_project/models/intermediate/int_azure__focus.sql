-- Azure lines (actual and amortized already paired, see int_azure__cost_lines) in the FOCUS 1.2
-- column set (see focus_columns()). Plain SQL: the engine-specific parts live in staging.
with lines as (

    select * from {{ ref('int_azure__cost_lines') }}

),

-- Azure's UnitOfMeasure in FOCUS UnitFormat, with its block size (seed azure_pricing_units).
units as (

    select unit_of_measure as unit_text, pricing_block_size, pricing_unit as pricing_unit_focus, consumed_unit
    from {{ ref('azure_pricing_units') }}

),

commitments as (

    select
        *,
        -- benefitId is the ARM id of the commitment: Microsoft.Capacity = reservation,
        -- Microsoft.BillingBenefits = savings plan. Older exports only carry reservationId.
        case
            when lower(benefit_id) like '%microsoft.capacity%' then 'Reservation'
            when lower(benefit_id) like '%microsoft.billingbenefits%' then 'Savings Plan'
            when reservation_id is not null then 'Reservation'
            when pricing_model = 'SavingsPlan' then 'Savings Plan'
            when pricing_model = 'Reservation' then 'Reservation'
        end as commitment_type,
        -- The amortized row of a purchase Azure does not amortize (see int_azure__cost_lines): what the
        -- purchase costs in its charge period, a Usage row of its own.
        is_unamortized_purchase and paired_from = 'amortized_only' as is_consumption
    from lines
    left join units
        on trim(lines.unit_of_measure) = units.unit_text

),

classified as (

    select
        *,
        case when commitment_type is not null then coalesce(benefit_id, reservation_id) end as commitment_id,
        -- The entity BillingAccountId holds, named as the Azure portal names it (FOCUS asks for a consistent,
        -- readable value, never null beside an id): an EA enrollment; a partner's (CSP) billing account for a
        -- PCN. id; else a billing account (MCA, MOSA, or an MCA account printed as its bare GUID).
        case when billing_account_id is not null
            then case agreement
                when 'EA' then 'Enrollment'
                when 'MPA' then 'Partner Billing Account'
                else 'Billing Account'
            end
        end as billing_account_type,
        -- Pricing currency: MCA exports price in pricingCurrency (costInPricingCurrency, converted to the billing
        -- currency with exchangeRatePricingToBilling); EA exports price in the billing currency (no such
        -- columns). A pricing currency the row gives no figure in (neither cost nor exchange rate) cannot be
        -- used: the row then states its pricing figures in the billing currency.
        case
            when pricing_currency is null or pricing_currency = currency then currency
            when effective_cost_in_pricing_currency is not null or exchange_rate_pricing_to_billing > 0
                then pricing_currency
            else currency
        end as pricing_currency_focus,
        case
            when pricing_currency is null or pricing_currency = currency then effective_cost
            when effective_cost_in_pricing_currency is not null then effective_cost_in_pricing_currency
            -- (a DECIMAL(38,18) quotient, the same on every engine: macros/engine/numbers.sql)
            when exchange_rate_pricing_to_billing > 0
                then {{ costlake_divide('effective_cost', 'exchange_rate_pricing_to_billing') }}
            else effective_cost
        end as effective_cost_in_pricing_currency_focus,
        -- Unit prices (PayGPrice, UnitPrice) are per UnitOfMeasure block and, in MCA exports, in the pricing
        -- currency: exchangeRatePricingToBilling turns them into the billing currency. Without a rate for a
        -- row priced in another currency they are unknown in the billing currency.
        case
            when pricing_currency is null or pricing_currency = currency then cast(1 as decimal(38, 18))
            when exchange_rate_pricing_to_billing > 0 then exchange_rate_pricing_to_billing
        end as price_to_billing
    from commitments

),

converted as (

    select
        *,
        cast(cast(payg_price as decimal(38, 12)) * price_to_billing as decimal(38, 18)) as payg_in_billing,
        cast(cast(unit_price as decimal(38, 12)) * price_to_billing as decimal(38, 18)) as unit_price_in_billing
    from classified

),

priced as (

    select
        *,
        case when charge_type is null or charge_type = 'Usage' or is_consumption then 'Usage'
             when charge_type in ('UnusedReservation', 'UnusedSavingsPlan') then 'Usage'
             when charge_type in ('Purchase', 'Refund') then 'Purchase'
             when charge_type = 'Tax' then 'Tax'
             when charge_type = 'Credit' then 'Credit'
             else 'Adjustment'
        end as charge_category,
        -- List and contracted cost: the unit price (per UnitOfMeasure block) x Quantity (blocks), so that
        -- FOCUS's unit price x PricingQuantity = cost holds. A consumption row was paid for by its purchase:
        -- 0 there, so every cost column adds up across rows. Not reconciled.
        case when is_consumption then cast(0 as decimal(38, 18))
             else coalesce(cast(cast(payg_in_billing as decimal(38, 12)) * cast(quantity as decimal(38, 12))
                                as decimal(38, 18)), payg_cost)
        end as list_cost,
        case when is_consumption then cast(0 as decimal(38, 18))
             else cast(cast(unit_price_in_billing as decimal(38, 12)) * cast(quantity as decimal(38, 12))
                       as decimal(38, 18))
        end as contracted_cost,
        -- Unit prices: FOCUS wants them non-negative; a negative one (a refund written as a negative price)
        -- stays out, which FOCUS allows on corrections.
        case when is_consumption then cast(0 as decimal(38, 18)) when payg_price >= 0 then payg_in_billing end
            as list_unit_price,
        case when is_consumption then cast(0 as decimal(38, 18)) when unit_price >= 0 then unit_price_in_billing end
            as contracted_unit_price,
        case when is_consumption then cast(0 as decimal(38, 18))
             when payg_price >= 0 then cast(payg_price as decimal(38, 18)) end as payg_price_in_pricing_currency,
        case when is_consumption then cast(0 as decimal(38, 18))
             when unit_price >= 0 then cast(unit_price as decimal(38, 18)) end as unit_price_in_pricing_currency
    from converted

),

focus as (

    select
        cast('Microsoft' as {{ dbt.type_string() }}) as "ProviderName",
        coalesce(publisher_name, 'Microsoft') as "PublisherName",
        cast('Microsoft' as {{ dbt.type_string() }}) as "InvoiceIssuerName",
        -- Set once the month is invoiced; null for charges not invoiced yet (FOCUS).
        invoice_id as "InvoiceId",
        billing_account_id as "BillingAccountId",
        billing_account_name as "BillingAccountName",
        billing_account_type as "BillingAccountType",
        sub_account_id as "SubAccountId",
        coalesce(subscription_name, billing_profile_name, billing_account_name) as "SubAccountName",
        -- SubAccountId is the subscription; a charge without one (support, Marketplace, commitment purchases
        -- billed at billing scope) sits on the billing profile, else on the billing account itself.
        case
            when sub_account_id is null then null
            when subscription_id is not null then 'Subscription'
            when sub_account_id = billing_account_id then coalesce(billing_account_type, 'Billing Account')
            else 'Billing Profile'
        end as "SubAccountType",
        currency as "BillingCurrency",
        billing_period_start_at as "BillingPeriodStart",
        billing_period_end_at as "BillingPeriodEnd",
        charge_period_start_at as "ChargePeriodStart",
        charge_period_end_at as "ChargePeriodEnd",
        billed_cost as "BilledCost",
        effective_cost as "EffectiveCost",
        list_cost as "ListCost",
        contracted_cost as "ContractedCost",
        charge_category as "ChargeCategory",
        case when charge_type = 'Refund' then 'Correction' end as "ChargeClass",
        case
            when frequency = 'OneTime' then 'One-Time'
            when frequency = 'Recurring' then 'Recurring'
            when frequency = 'UsageBased' then 'Usage-Based'
            when charge_type is null or charge_type in ('Usage', 'UnusedReservation', 'UnusedSavingsPlan')
                then 'Usage-Based'
            else 'One-Time'
        end as "ChargeFrequency",
        product_name as "ChargeDescription",
        coalesce(meter_category, service_family, consumed_service) as "ServiceName",
        case
            when meter_category in ('Virtual Machines', 'Virtual Machines Licenses', 'Container Instances',
                                    'Azure App Service', 'Functions', 'Cloud Services', 'Azure Kubernetes Service',
                                    'Batch', 'Container Apps', 'Azure Spring Apps', 'Azure VMware Solution')
                then 'Compute'
            when meter_category in ('Storage', 'Backup', 'Azure NetApp Files', 'Data Box', 'Azure Data Lake Storage')
                then 'Storage'
            when meter_category in ('SQL Database', 'SQL Managed Instance', 'Azure Cosmos DB',
                                    'Azure Database for MySQL', 'Azure Database for PostgreSQL',
                                    'Azure Database for MariaDB', 'Redis Cache', 'Azure Cache for Redis')
                then 'Databases'
            when meter_category in ('Virtual Network', 'Bandwidth', 'Load Balancer', 'VPN Gateway',
                                    'Application Gateway', 'Azure DNS', 'Content Delivery Network',
                                    'Azure Front Door Service', 'ExpressRoute', 'Network Watcher', 'Azure Firewall',
                                    'IP Addresses', 'NAT Gateway', 'Azure Bastion', 'Azure DDOS Protection')
                then 'Networking'
            when meter_category in ('Advanced Threat Protection', 'Advanced Data Security',
                                    'Microsoft Defender for Cloud', 'Key Vault', 'Sentinel', 'Azure Firewall Manager')
                then 'Security'
            when meter_category in ('Log Analytics', 'Azure Monitor', 'Application Insights', 'Automation',
                                    'Azure Policy', 'Azure Arc')
                then 'Management and Governance'
            when meter_category in ('Cognitive Services', 'Azure OpenAI', 'Machine Learning', 'Azure AI Services')
                then 'AI and Machine Learning'
            when meter_category in ('HDInsight', 'Azure Databricks', 'Azure Data Factory v2', 'Azure Synapse Analytics',
                                    'Stream Analytics', 'Event Hubs', 'Data Lake Analytics', 'Microsoft Fabric')
                then 'Analytics'
            when meter_category in ('Service Bus', 'Logic Apps', 'API Management', 'Event Grid')
                then 'Integration'
            when service_family in ('Compute', 'Storage', 'Databases', 'Networking', 'Security', 'Analytics',
                                    'Integration', 'Web', 'Developer Tools', 'Internet of Things', 'Media',
                                    'Migration', 'Mobile', 'Management and Governance')
                then service_family
            when service_family = 'AI + Machine Learning' then 'AI and Machine Learning'
            else 'Other'
        end as "ServiceCategory",
        lower(replace(coalesce(resource_location, location), ' ', '')) as "RegionId",
        coalesce(location, resource_location) as "RegionName",
        availability_zone as "AvailabilityZone",
        resource_id as "ResourceId",
        case when resource_id is not null then resource_name end as "ResourceName",
        -- The ARM resource type parsed from the id in staging ('microsoft.compute/virtualmachines'); ids that
        -- are not ARM paths fall back to the resource provider that metered them.
        case when resource_id is not null
            then coalesce(resource_arm_type, lower(consumed_service), meter_category, 'unknown')
        end as "ResourceType",
        coalesce(product_id, part_number, meter_id) as "SkuId",
        -- What the SKU meters: Azure's meter name (the product where a row names no meter).
        case when coalesce(product_id, part_number, meter_id) is not null then coalesce(meter_name, product_name) end
            as "SkuMeter",
        case
            when charge_category not in ('Usage', 'Purchase') or charge_type = 'Refund' then null
            when charge_type in ('UnusedReservation', 'UnusedSavingsPlan') then 'Committed'
            when commitment_id is not null and charge_category = 'Usage' then 'Committed'
            when pricing_model = 'Spot' then 'Dynamic'
            else 'Standard'
        end as "PricingCategory",
        -- Quantity counts UnitOfMeasure blocks ('100 Hours'): the priced block in FOCUS UnitFormat.
        quantity as "PricingQuantity",
        case when quantity is not null then coalesce(pricing_unit_focus, trim(unit_of_measure)) end as "PricingUnit",
        list_unit_price as "ListUnitPrice",
        contracted_unit_price as "ContractedUnitPrice",
        -- Consumed: in the unit without the block (Quantity x block size).
        case when charge_type is null or charge_type = 'Usage' or is_consumption
            then cast(quantity * coalesce(pricing_block_size, 1) as decimal(38, 18)) end as "ConsumedQuantity",
        case when (charge_type is null or charge_type = 'Usage' or is_consumption) and quantity is not null
            then coalesce(consumed_unit, trim(unit_of_measure)) end as "ConsumedUnit",
        -- Prices and costs in the pricing currency (see pricing_currency_focus above).
        pricing_currency_focus as "PricingCurrency",
        effective_cost_in_pricing_currency_focus as "PricingCurrencyEffectiveCost",
        case when pricing_currency_focus = currency then list_unit_price else payg_price_in_pricing_currency end
            as "PricingCurrencyListUnitPrice",
        case when pricing_currency_focus = currency then contracted_unit_price else unit_price_in_pricing_currency end
            as "PricingCurrencyContractedUnitPrice",
        commitment_id as "CommitmentDiscountId",
        case when commitment_id is not null then coalesce(benefit_name, reservation_name) end
            as "CommitmentDiscountName",
        case when commitment_id is not null then commitment_type end as "CommitmentDiscountType",
        case when commitment_id is not null then
            case commitment_type when 'Reservation' then 'Usage' when 'Savings Plan' then 'Spend' end
        end as "CommitmentDiscountCategory",
        -- Usage rows only (FOCUS): the amortized export's UnusedReservation / UnusedSavingsPlan rows are the
        -- commitment's unused part; usage covered by it used it. Purchases and refunds carry no status.
        case
            when commitment_id is null then null
            when charge_type in ('UnusedReservation', 'UnusedSavingsPlan') then 'Unused'
            when charge_type is null or charge_type = 'Usage' then 'Used'
        end as "CommitmentDiscountStatus",
        tags_json as "Tags",
        account_key as "x_AccountKey",
        billing_period as "x_BillingMonth",
        cast(null as {{ dbt.type_string() }}) as "x_CostBasis",
        cast(null as decimal(38, 18)) as "x_UnblendedCost",
        cast(null as decimal(38, 18)) as "x_BlendedCost",
        charge_type as "x_ChargeType",
        meter_name as "x_UsageType",
        pricing_model as "x_Operation",
        {{ dbt.concat(["match_key", "'-'", "cast(pair_number as " ~ dbt.type_string() ~ ")",
                       "case when is_consumption then ':consumption' else '' end"]) }} as "x_LineItemId",
        export_schema as "x_ExportFormat",
        source_file as "x_SourceFile",
        source_run_id as "x_SourceRunId",
        unit_of_measure as "x_PricingUnit"
    from priced

)

select * from focus
