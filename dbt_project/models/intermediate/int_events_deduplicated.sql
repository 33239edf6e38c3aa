{#- One row per event_id. The ingestion already drops duplicates inside a file; here the same
    event landing in two files (overlapping exports) is kept once, from the first file in name
    order. Duplicates are rare, so only the repeated ids are ranked. -#}
with events as (
    select * from {{ ref('stg_landing__events') }}
),

repeated_ids as (
    select event_id
    from events
    group by event_id
    having count(*) > 1
),

ranked_repeats as (
    select
        events.*,
        row_number() over (
            partition by events.event_id order by events.source_file, events.source_row
        ) as copy_number
    from events
    inner join repeated_ids on events.event_id = repeated_ids.event_id
),

final as (
    select
        event_id, user_id, event_name, occurred_at, event_date, properties, revenue, platform,
        source_file, source_row
    from events
    where event_id not in (select event_id from repeated_ids)

    union all

    select
        event_id, user_id, event_name, occurred_at, event_date, properties, revenue, platform,
        source_file, source_row
    from ranked_repeats
    where copy_number = 1
)

select * from final
