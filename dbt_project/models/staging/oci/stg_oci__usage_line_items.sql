-- Bronze OCI usage report lines (consumed quantities, no cost), renamed. Rename and cast only.
with source as (

    select * from {{ source('bronze_oci', 'oci_usage') }}

),

renamed as (

    select
        -- ids
        x_account_key as account_key,
        reference_no,
        backreference_no,
        compartment_id,
        resource_id,

        -- categories
        service,
        resource as metering_resource,
        region,
        consumed_quantity_units,
        consumed_quantity_measure,
        is_correction,

        -- numerics
        consumed_quantity,
        billed_quantity,

        -- timestamps (UTC)
        interval_usage_start as usage_start_at,
        interval_usage_end as usage_end_at,

        -- lineage
        x_billing_period as billing_period,
        x_source_object as source_object,
        x_source_row as source_row

    from source

)

select * from renamed
