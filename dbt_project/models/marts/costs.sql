{{ config(materialized='table', contract={'enforced': true}) }}

-- The one cost table: FOCUS 1.2 columns plus x_ extensions, every registered source, every month.
select * from {{ ref('int_costs__unioned') }}
