-- Every AWS bronze row with its payer's cost basis and, when it must not reach `costs`, why.
-- Nothing is filtered here: kept rows go on to int_aws__focus, the others to `dropped_costs`,
-- so the two always add up to the export.
with line_items as (

    select * from {{ ref('stg_aws__cur_line_items') }}

),

kept_accounts as (

    select * from {{ ref('stg_aws__payer_accounts') }}

),

payers as (

    select distinct payer_key, payer_account_id, cost_basis
    from kept_accounts

),

joined as (

    select
        line_items.*,
        payers.cost_basis,
        kept_accounts.usage_account_key,
        kept_accounts.usage_account_name as registered_account_name,
        case
            when payers.payer_key is null then 'unregistered_payer'
            -- EKS/ECS split cost allocation rows repeat EC2 cost already billed on the instance row.
            when line_items.is_split_allocation then 'split_cost_allocation'
            -- A payer export lists every linked account; only registered ones are kept (OptScale drops
            -- them silently, we report them in `dropped_costs`).
            when kept_accounts.usage_account_id is null then 'unconnected_linked_account'
        end as drop_reason
    from line_items
    left join payers
        on line_items.account_key = payers.payer_key
    left join kept_accounts
        on line_items.account_key = kept_accounts.payer_key
        and line_items.usage_account_id = kept_accounts.usage_account_id

),

costed as (

    select
        *,
        -- mpa: dedicated | no -> blended; shared | absent -> unblended (registry decides cost_basis).
        case when cost_basis = 'blended' then blended_cost else unblended_cost end as billed_cost,
        -- Amortized cost by line item type (see BILLING-EDGE-CASES: AWS amortization).
        case
            when line_item_type = 'SavingsPlanCoveredUsage' then coalesce(savings_plan_effective_cost, 0)
            when line_item_type = 'DiscountedUsage' then coalesce(reservation_effective_cost, 0)
            when line_item_type = 'SavingsPlanRecurringFee'
                then coalesce(savings_plan_total_commitment_to_date, 0) - coalesce(savings_plan_used_commitment, 0)
            when line_item_type = 'RIFee'
                then coalesce(reservation_unused_amortized_upfront_fee, 0) + coalesce(reservation_unused_recurring_fee, 0)
            when line_item_type in ('SavingsPlanNegation', 'SavingsPlanUpfrontFee') then 0
            -- The RI upfront fee is spread over the usage it covers (reservation_effective_cost).
            when line_item_type = 'Fee' and reservation_arn is not null then 0
            else coalesce(net_unblended_cost, unblended_cost)
        end as effective_cost
    from joined

)

select * from costed
