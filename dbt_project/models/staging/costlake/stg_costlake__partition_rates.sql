-- The rates of the partitions being built into the reporting currency, one per (partition, charge date,
-- currency), resolved by the orchestration (orchestration/warehouse/reporting.py).
with source as (

    select * from {{ source('reporting', 'partition_rates') }}

),

renamed as (

    select
        "x_AccountKey" as account_key,
        "x_BillingMonth" as billing_month,
        "ChargeDate" as charge_date,
        "FromCurrency" as from_currency,
        "ToCurrency" as to_currency,
        cast("Rate" as decimal(38,18)) as rate,
        "RateDate" as rate_date,
        "RateSource" as rate_source
    from source

)

select * from renamed
