-- Registry: which usage accounts each payer keeps (the payer itself + its registered linked accounts),
-- and the payer's cost basis (mpa rule). Written by the orchestration from the registry YAML.
with source as (

    select * from {{ source('registry', 'aws_payer_accounts') }}

),

renamed as (

    select
        payer_key,
        payer_account_id,
        usage_account_id,
        usage_account_key,
        usage_account_name,
        cost_basis
    from source

)

select * from renamed
