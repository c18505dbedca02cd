-- Bronze OCI cost report lines, renamed for the intermediate models. Rename and cast only: how
-- corrections replace lines and what reaches FOCUS live in int_oci__cost_line_items / int_oci__focus.
with source as (

    select * from {{ source('bronze_oci', 'oci_cost') }}

),

renamed as (

    select
        -- ids
        x_account_key as account_key,
        reference_no,
        backreference_no,
        tenant_id,
        compartment_id,
        compartment_name,
        resource_id,
        subscription_id,
        product_sku as sku_id,

        -- categories
        service,
        region,
        availability_domain,
        product_description,
        billing_unit_readable,
        sku_unit_description,
        overage_flag,
        currency_code as currency,
        tags_json,
        is_correction,

        -- numerics (DECIMAL(38,18) from bronze)
        billed_quantity,
        billed_quantity_overage,
        unit_price,
        unit_price_overage,
        my_cost,
        my_cost_overage,

        -- timestamps (UTC)
        interval_usage_start as usage_start_at,
        interval_usage_end as usage_end_at,

        -- lineage
        x_is_superseded as connector_superseded,
        x_currency_inferred as currency_inferred,
        x_billing_period as billing_period,
        x_source_object as source_object,
        x_source_row as source_row,
        x_source_file as source_file,
        x_source_run_id as source_run_id

    from source

)

select * from renamed
