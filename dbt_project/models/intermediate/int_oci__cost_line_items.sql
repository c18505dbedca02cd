-- Every OCI cost report line with its replacement status (corrections applied here, in SQL of our own,
-- independently of the connector whose control totals the reconciliation compares us with) and the
-- consumed quantity from the usage reports where one usage line matches one kept cost line.
--
-- Corrections: a line whose referenceNo a correction (is_correction, backreference_no) points at is
-- REPLACED by that correction; with several corrections of one line the newest (object name, row)
-- wins. Scope: the same tenancy and billing month (a correction carries its line's usage interval).
with cost_lines as (

    select * from {{ ref('stg_oci__cost_line_items') }}

),

corrections as (

    select
        account_key,
        billing_period,
        backreference_no as target_reference_no,
        source_object,
        source_row,
        row_number() over (
            partition by account_key, billing_period, backreference_no
            order by source_object desc, source_row desc
        ) as correction_rank
    from cost_lines
    where is_correction and backreference_no is not null

),

replaced as (

    select distinct account_key, billing_period, target_reference_no
    from corrections

),

losing as (

    select account_key, billing_period, source_object, source_row
    from corrections
    where correction_rank > 1

),

classified as (

    select
        cost_lines.*,
        case
            when replaced.target_reference_no is not null then 'replaced_by_correction'
            when losing.source_row is not null then 'superseded_correction'
        end as drop_reason
    from cost_lines
    left join replaced
        on cost_lines.account_key = replaced.account_key
        and cost_lines.billing_period = replaced.billing_period
        and cost_lines.reference_no = replaced.target_reference_no
    left join losing
        on cost_lines.account_key = losing.account_key
        and cost_lines.billing_period = losing.billing_period
        and cost_lines.source_object = losing.source_object
        and cost_lines.source_row = losing.source_row

),

-- Cost and usage reports share no line id. A usage line describes the same resource-hour as a cost
-- line when tenancy, month, resource, compartment, service, region and interval agree; we take its
-- consumed quantity only when that key names exactly one kept cost line and one usage line (a
-- resource billed under several SKUs in the hour stays NULL rather than double counted).
kept_cost_keys as (

    select
        account_key, billing_period, resource_id, compartment_id, service, region, usage_start_at, usage_end_at,
        count(*) as cost_lines
    from classified
    where drop_reason is null and resource_id is not null
    group by account_key, billing_period, resource_id, compartment_id, service, region, usage_start_at, usage_end_at

),

usage_by_key as (

    select
        account_key, billing_period, resource_id, compartment_id, service, region, usage_start_at, usage_end_at,
        count(*) as usage_lines,
        max(consumed_quantity) as consumed_quantity,
        max(consumed_quantity_units) as consumed_unit
    from {{ ref('int_oci__usage_line_items') }}
    where resource_id is not null
    group by account_key, billing_period, resource_id, compartment_id, service, region, usage_start_at, usage_end_at

),

consumption as (

    select
        usage_by_key.*
    from usage_by_key
    inner join kept_cost_keys
        on usage_by_key.account_key = kept_cost_keys.account_key
        and usage_by_key.billing_period = kept_cost_keys.billing_period
        and usage_by_key.resource_id = kept_cost_keys.resource_id
        and usage_by_key.compartment_id = kept_cost_keys.compartment_id
        and usage_by_key.service = kept_cost_keys.service
        and usage_by_key.region = kept_cost_keys.region
        and usage_by_key.usage_start_at = kept_cost_keys.usage_start_at
        and usage_by_key.usage_end_at = kept_cost_keys.usage_end_at
    where usage_by_key.usage_lines = 1 and kept_cost_keys.cost_lines = 1

)

select
    classified.*,
    case when classified.drop_reason is null then consumption.consumed_quantity end as consumed_quantity,
    case when classified.drop_reason is null then consumption.consumed_unit end as consumed_unit
from classified
left join consumption
    on classified.account_key = consumption.account_key
    and classified.billing_period = consumption.billing_period
    and classified.resource_id = consumption.resource_id
    and classified.compartment_id = consumption.compartment_id
    and classified.service = consumption.service
    and classified.region = consumption.region
    and classified.usage_start_at = consumption.usage_start_at
    and classified.usage_end_at = consumption.usage_end_at
