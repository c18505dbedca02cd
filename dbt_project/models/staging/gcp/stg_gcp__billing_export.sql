-- Bronze GCP billing export rows of the standard and the detailed table, renamed for the intermediate
-- models. Rename only: credits are already summed per type by the connector (the nested array stays in
-- credits_json), Pacific invoice months already carry their UTC bounds.
{%- set tables = ['gcp_standard', 'gcp_detailed'] %}

with unioned as (

{%- for table in tables %}

    select
        -- ids
        x_account_key as account_key,
        x_dataset as dataset,
        x_billing_account_id as billing_account_id,  -- the registry id; rows were checked to match it
        x_billing_account_name as billing_account_name,
        project_id,
        project_name,
        project_number,
        service_id,
        service_description,
        sku_id,
        sku_description,
        resource_name,
        resource_global_name,
        resource_type,
        x_row_hash as row_hash,

        -- categories
        cost_type,
        adjustment_type,
        adjustment_description,
        seller_name,
        transaction_type,
        location_location,
        location_region,
        location_zone,
        usage_unit,
        usage_pricing_unit,
        currency,
        tags_json,
        credits_json,
        commitment_credit_type,
        commitment_credit_id,
        commitment_credit_name,

        -- numerics (money DECIMAL(38,18); usage amounts double)
        cost,
        cost_at_list,
        credits_amount,
        credits_committed_usage,
        credits_committed_spend,
        credits_sustained_usage,
        credits_promotion,
        credits_discount,
        credits_other,
        usage_amount,
        usage_amount_in_pricing_units,
        currency_conversion_rate,

        -- timestamps (UTC)
        x_billing_period_start as billing_period_start_at,
        x_billing_period_end as billing_period_end_at,
        usage_start_time as usage_start_at,
        usage_end_time as usage_end_at,
        export_time as exported_at,

        -- lineage
        invoice_month,
        x_billing_period as billing_period,
        x_export_name as export_name,
        x_source_format as source_format,
        x_source_run_id as source_run_id,
        x_source_file as source_file

    from {{ source('bronze_gcp', table) }}
    {% if not loop.last %}union all{% endif %}
{%- endfor %}

)

select
    unioned.*,
    -- GCP rows have no line-item id and the export may hold two identical rows (two real charges), so the
    -- content hash alone does not name a line. Number the copies: a row doubled later (by a join) then
    -- repeats its (hash, copy) and the no-duplicate check catches it.
    row_hash || '#' || cast(
        row_number() over (partition by account_key, dataset, billing_period, row_hash order by source_file)
        as {{ dbt.type_string() }}
    ) as line_item_id
from unioned
