{{ config(materialized='lake_table', contract={'enforced': true}) }}

-- The one cost table: FOCUS 1.2 columns plus x_ extensions. Built per (x_AccountKey, x_BillingMonth):
-- dbt writes the partitions of this build, costlake checks and publishes each into the lake, and the
-- published warehouse's `costs` reads every current partition (orchestration/warehouse/).
select * from {{ ref('int_costs__unioned') }}
