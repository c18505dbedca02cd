-- Registry tag rules: each canonical key's spellings in order of preference (tag_rules: aliases).
with source as (

    select * from {{ source('registry_tags', 'tag_rules') }}

),

renamed as (

    select
        tag_key,
        spelling,
        position,
        fold_case
    from source

)

select * from renamed
