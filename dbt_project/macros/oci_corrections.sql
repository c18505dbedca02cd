{#-
  The one OCI correction rule, shared by the cost and the usage report models (int_oci__cost_line_items,
  int_oci__usage_line_items), so both apply corrections the same way:

    A line whose referenceNo a correction (is_correction, backreference_no) points at is REPLACED by that
    correction; with several corrections of one line the newest (object name, row) wins and the others
    are superseded. Scope: the same tenancy (account_key) and billing month (a correction carries its
    line's usage interval).

  oci_correction_ctes(lines) emits CTE definitions (to follow `with <lines> as (...),`): `corrections`,
  `replaced`, `losing` and `classified`, which is every row of <lines> plus `drop_reason`:
  null (counted), 'replaced_by_correction' or 'superseded_correction'. <lines> must have account_key,
  billing_period, reference_no, backreference_no, is_correction, source_object and source_row.
  Plain SQL (window function, joins): portable across DuckDB and Spark.
-#}
{% macro oci_correction_ctes(lines) -%}
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
    from {{ lines }}
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
        {{ lines }}.*,
        case
            when replaced.target_reference_no is not null then 'replaced_by_correction'
            when losing.source_row is not null then 'superseded_correction'
        end as drop_reason
    from {{ lines }}
    left join replaced
        on {{ lines }}.account_key = replaced.account_key
        and {{ lines }}.billing_period = replaced.billing_period
        and {{ lines }}.reference_no = replaced.target_reference_no
    left join losing
        on {{ lines }}.account_key = losing.account_key
        and {{ lines }}.billing_period = losing.billing_period
        and {{ lines }}.source_object = losing.source_object
        and {{ lines }}.source_row = losing.source_row

)
{%- endmacro %}
