-- OCI usage report lines with corrections applied, per (tenancy, billing month): a line that a
-- correction points at (lineItem/backreferenceNo, correction = true) is replaced by the newest such
-- correction, as in the cost reports (see connectors/oci/reader.py for why "replace").
with usage_lines as (

    select * from {{ ref('stg_oci__usage_line_items') }}

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
    from usage_lines
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

)

select
    usage_lines.*
from usage_lines
left join replaced
    on usage_lines.account_key = replaced.account_key
    and usage_lines.billing_period = replaced.billing_period
    and usage_lines.reference_no = replaced.target_reference_no
left join losing
    on usage_lines.account_key = losing.account_key
    and usage_lines.billing_period = losing.billing_period
    and usage_lines.source_object = losing.source_object
    and usage_lines.source_row = losing.source_row
where replaced.target_reference_no is null
    and losing.source_row is null
