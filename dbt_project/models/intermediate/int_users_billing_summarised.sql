{#- Per user, as of the as-of date: plan, payments and payment failures from billing events. -#}
with billing as (
    select * from {{ ref('stg_landing__billing') }}
    where billing_date <= {{ as_of_date() }}
),

latest_plan as (
    select user_id, plan as billing_plan
    from (
        select
            user_id,
            plan,
            row_number() over (partition by user_id order by occurred_at desc, source_row desc)
                as recency_rank
        from billing
        where plan is not null
    ) as ranked
    where recency_rank = 1
),

totals as (
    select
        user_id,
        coalesce(sum(case when billing_event = 'payment_succeeded' then amount end), 0)
            as billing_revenue,
        sum(case when billing_event = 'payment_failed' then 1 else 0 end) as payment_failures,
        max(case when billing_event = 'payment_failed' then occurred_at end)
            as last_payment_failed_at,
        max(case when billing_event = 'payment_succeeded' then occurred_at end)
            as last_payment_succeeded_at,
        max(case when billing_event = 'cancelled' then occurred_at end) as cancelled_at
    from billing
    group by user_id
),

final as (
    select totals.*, latest_plan.billing_plan
    from totals
    left join latest_plan on totals.user_id = latest_plan.user_id
)

select * from final
