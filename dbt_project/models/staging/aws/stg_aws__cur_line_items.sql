-- Bronze AWS line items (legacy CUR and CUR 2.0 already share one schema), renamed for the
-- intermediate models. Rename and cast only: the cost rules live in int_aws__line_items (billed and
-- effective cost, drop reasons) and int_aws__focus (the FOCUS mapping).
with source as (

    select * from {{ source('bronze_aws', 'aws_cur_line_items') }}

),

renamed as (

    select
        -- ids
        x_account_key as account_key,
        identity_line_item_id as line_item_id,
        bill_payer_account_id as payer_account_id,
        bill_payer_account_name as payer_account_name,
        line_item_usage_account_id as usage_account_id,
        line_item_usage_account_name as usage_account_name,
        bill_invoice_id as invoice_id,
        line_item_resource_id as resource_id,
        product_sku as sku_id,
        reservation_reservation_a_r_n as reservation_arn,
        savings_plan_savings_plan_a_r_n as savings_plan_arn,

        -- categories
        line_item_line_item_type as line_item_type,
        bill_billing_entity as billing_entity,
        bill_invoicing_entity as invoicing_entity,
        line_item_legal_entity as legal_entity,
        line_item_product_code as product_code,
        product_product_name as product_name,
        product_servicecode as service_code,
        product_product_family as product_family,
        product_region_code as region_id,
        product_location as region_name,
        line_item_availability_zone as availability_zone,
        line_item_usage_type as usage_type,
        line_item_operation as operation,
        line_item_line_item_description as description,
        line_item_tax_type as tax_type,
        pricing_term,
        pricing_unit,
        line_item_currency_code as currency,
        resource_tags_json as tags_json,

        -- numerics (DECIMAL(38,18) from bronze)
        line_item_usage_amount as usage_amount,
        line_item_unblended_rate as unblended_rate,
        line_item_unblended_cost as unblended_cost,
        line_item_blended_rate as blended_rate,
        line_item_blended_cost as blended_cost,
        line_item_net_unblended_cost as net_unblended_cost,
        pricing_public_on_demand_cost as public_on_demand_cost,
        reservation_effective_cost,
        reservation_unused_amortized_upfront_fee_for_billing_period as reservation_unused_amortized_upfront_fee,
        reservation_unused_recurring_fee,
        savings_plan_savings_plan_effective_cost as savings_plan_effective_cost,
        savings_plan_total_commitment_to_date,
        savings_plan_used_commitment,

        -- timestamps (UTC)
        bill_billing_period_start_date as billing_period_start_at,
        bill_billing_period_end_date as billing_period_end_at,
        line_item_usage_start_date as usage_start_at,
        line_item_usage_end_date as usage_end_at,

        -- lineage
        x_is_split_allocation as is_split_allocation,
        x_billing_period as billing_period,
        x_export_format as export_format,
        x_export_name as export_name,
        x_source_run_id as source_run_id,
        x_source_file as source_file

    from source

)

select * from renamed
