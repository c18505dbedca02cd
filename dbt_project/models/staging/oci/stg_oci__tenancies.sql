-- Registry: each registered OCI tenancy and its display name (`name:`). Written by the orchestration from
-- the registry YAML (OciProvider.registry_tables).
with source as (

    select * from {{ source('registry_oci', 'oci_tenancies') }}

),

renamed as (

    select
        tenancy_key as account_key,
        tenancy_ocid,
        tenancy_name
    from source

)

select * from renamed
