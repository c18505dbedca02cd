-- The OCI connector (whose control totals the reconciliation checks use) and dbt (which builds `costs`)
-- apply corrections independently; they must agree on every line: a row dbt drops as replaced is
-- exactly a row the connector flagged x_is_superseded.
select account_key, billing_period, source_object, source_row, drop_reason, connector_superseded
from {{ ref('int_oci__cost_line_items') }}
where (drop_reason is not null) <> coalesce(connector_superseded, false)
