{{ config(materialized='lake_table') }}

-- What did NOT reach `costs`, and why: per source, billing month, usage account, currency and reason.
-- Rows of unregistered linked accounts are the common case (register the account to keep them).
select
    account_key as "x_AccountKey",
    billing_period as "x_BillingMonth",
    cast('AWS' as {{ dbt.type_string() }}) as "ProviderName",
    usage_account_id as "SubAccountId",
    max(usage_account_name) as "SubAccountName",
    currency as "BillingCurrency",
    drop_reason as "DropReason",
    count(*) as "RowCount",
    sum(billed_cost) as "BilledCost",
    sum(unblended_cost) as "UnblendedCost",
    sum(blended_cost) as "BlendedCost"
from {{ ref('int_aws__line_items') }}
where drop_reason is not null
group by account_key, billing_period, usage_account_id, currency, drop_reason
