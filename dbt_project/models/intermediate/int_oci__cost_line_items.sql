-- Every OCI cost report line with its replacement status (corrections applied here, in SQL of our own,
-- independently of the connector whose control totals the reconciliation compares us with) and the
-- consumed quantity from the usage reports where one usage line matches one kept cost line.
--
-- Corrections: macro oci_correction_ctes, the one rule for cost and usage reports (a corrected line is
-- REPLACED by its newest correction, per tenancy and billing month); it adds drop_reason.
with cost_lines as (

    select * from {{ ref('stg_oci__cost_line_items') }}

),

{{ oci_correction_ctes('cost_lines') }},

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
    where drop_reason is null and resource_id is not null
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
