-- Registry tag rules: how values are normalized (tag_rules: values), one row.
with source as (

    select * from {{ source('registry_tags', 'tag_settings') }}

),

renamed as (

    select
        trim_values,
        value_case,
        fold_other_keys
    from source

)

select * from renamed
