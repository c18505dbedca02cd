-- Bronze Azure cost details of both datasets (actual, amortized) in one relation, renamed, with the
-- engine-specific pieces done here: period timestamps and the line identity (`match_key`) that
-- int_azure__cost_lines uses to pair a row of the actual export with its twin in the amortized one.
with unioned as (

    -- by name: files written by an older connector version may lack a newer optional column
    {{ costlake_union_all_by_name([source('bronze_azure', 'azure_actual'), source('bronze_azure', 'azure_amortized')]) }}

),

renamed as (

    select
        -- ids
        x_account_key as account_key,
        billing_account_id,
        billing_account_name,
        billing_profile_id,
        billing_profile_name,
        invoice_section_id,
        invoice_section_name,
        -- Empty until the month is invoiced (then the invoice's number, e.g. 'G012345678').
        invoice_id,
        sub_account_id,
        subscription_id,
        subscription_name,
        resource_group,
        resource_id,
        resource_name,
        meter_id,
        product_id,
        part_number,
        reservation_id,
        reservation_name,
        benefit_id,
        benefit_name,

        -- categories
        x_dataset as dataset,
        x_schema as export_schema,
        -- The agreement behind the billing account, from the id's form (every form Azure's Billing API
        -- accepts, see registry/azure.py): an EA enrollment number is digits, a Partner Center partner
        -- account 'PCN.<id>', an MCA (or MPA) account '<guid>:<guid>_<yyyy-mm-dd>'. A bare GUID is a MOSA
        -- (pay-as-you-go) account, or an MCA account whose export prints only the first GUID: the MCA
        -- camelCase header (billingProfileId, ...) tells them apart.
        case
            when billing_account_id is null then null
            when {{ costlake_regexp_full_match('billing_account_id', "'[0-9]+'") }} then 'EA'
            when {{ costlake_regexp_full_match('billing_account_id', "'[Pp][Cc][Nn][.][A-Za-z0-9]+'") }} then 'MPA'
            when billing_account_id like '%:%' then 'MCA'
            when x_schema = 'mca' then 'MCA'
            else 'MOSA'
        end as agreement,
        charge_type,
        pricing_model,
        frequency,
        publisher_type,
        publisher_name,
        meter_category,
        meter_sub_category,
        meter_name,
        meter_region,
        service_family,
        consumed_service,
        product_name,
        resource_location,
        location,
        availability_zone,
        unit_of_measure,
        billing_currency as currency,
        -- MCA prices in a pricing currency (pricingCurrency, e.g. USD) and converts to the billing currency
        -- with exchangeRatePricingToBilling; EA exports price in the billing currency and lack the column.
        pricing_currency,
        -- ARM type of the resource ('microsoft.compute/virtualmachines'; nested: '.../virtualmachines/extensions'):
        -- the namespace after the last '/providers/' and every other segment after it (the rest are names).
        case
            when {{ costlake_regexp_matches('resource_id', "'(?i)/providers/[^/]+/[^/]+/[^/]+'") }}
                then lower(
                    regexp_extract(resource_id, '(?i)^.*/providers/([^/]+)/', 1)
                    || {{ costlake_regexp_replace_all(
                        "regexp_extract(resource_id, '(?i)^.*/providers/[^/]+((/[^/]+/[^/]+)+)/?$', 1)",
                        "'/([^/]+)/[^/]+'", "'/\\1'"
                    ) }}
                )
        end as resource_arm_type,
        tags_json,

        -- numerics (DECIMAL(38,18) from bronze)
        cost_in_billing_currency as cost,
        cost_in_pricing_currency,
        payg_cost_in_billing_currency as payg_cost,
        exchange_rate_pricing_to_billing,
        quantity,
        effective_price,
        unit_price,
        payg_price,

        -- timestamps (UTC days)
        cast(x_billing_period || '-01' as {{ dbt.type_timestamp() }}) as billing_period_start_at,
        cast(x_billing_period || '-01' as {{ dbt.type_timestamp() }}) + interval 1 month as billing_period_end_at,
        cast(charge_date as timestamp) as charge_period_start_at,
        cast(charge_date as timestamp) + interval 1 day as charge_period_end_at,

        -- pairing: the same charge in both datasets has the same description; only cost and effective
        -- price differ (a reservation-covered usage row costs 0 in actual, its amortized share in
        -- amortized). Sub account and currency are part of it, so pairs never cross a reconciled total.
        md5(concat_ws('|',
            x_billing_period, coalesce(sub_account_id, ''), coalesce(billing_currency, ''),
            coalesce(cast(charge_date as {{ dbt.type_string() }}), ''), coalesce(charge_type, ''), coalesce(pricing_model, ''),
            coalesce(lower(resource_id), ''), coalesce(meter_id, ''), coalesce(product_name, ''),
            coalesce(part_number, ''), coalesce(unit_of_measure, ''), coalesce({{ costlake_decimal_text('quantity') }}, ''),
            coalesce(benefit_id, reservation_id, ''), coalesce(resource_location, ''), coalesce(publisher_name, '')
        )) as match_key,

        -- lineage
        x_billing_period as billing_period,
        x_export_name as export_name,
        x_source_run_id as source_run_id,
        x_source_file as source_file,
        x_source_line as source_line

    from unioned

)

select * from renamed
