-- Tags registry entries declare for their rows to inherit (entry `tags:`, `sub_account_tags:`).
with source as (

    select * from {{ source('registry_tags', 'account_tags') }}

),

renamed as (

    select
        source_key,
        sub_account_id,
        tag_key,
        tag_value
    from source

)

select * from renamed
