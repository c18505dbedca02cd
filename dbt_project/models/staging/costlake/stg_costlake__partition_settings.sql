-- The reporting currency of each partition being built (no row: the registry sets none).
with source as (

    select * from {{ source('reporting', 'partition_settings') }}

),

renamed as (

    select
        "x_AccountKey" as account_key,
        "x_BillingMonth" as billing_month,
        "ReportingCurrency" as reporting_currency
    from source

)

select * from renamed
