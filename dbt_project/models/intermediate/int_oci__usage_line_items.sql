-- Every OCI usage report line with its replacement status: drop_reason null (counted),
-- 'replaced_by_correction' or 'superseded_correction'. The correction rule is the cost reports' one, in
-- one place: macro oci_correction_ctes (see connectors/oci/reader.py for why "replace").
with usage_lines as (

    select * from {{ ref('stg_oci__usage_line_items') }}

),

{{ oci_correction_ctes('usage_lines') }}

select * from classified
