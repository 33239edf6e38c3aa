{#- Spans of days per `partition_by`, [from_column, to_column] inclusive, that tile the days
    without a gap or an overlap: each span ends the day before the next one starts, and none
    ends before it starts. Fails with the offending rows. -#}
{% test contiguous_spans(model, partition_by, from_column, to_column) %}
with ordered as (
    select
        {{ partition_by }} as part,
        {{ from_column }} as span_from,
        {{ to_column }} as span_to,
        lead({{ from_column }}) over (partition by {{ partition_by }} order by {{ from_column }}) as next_from
    from {{ model }}
)

select *
from ordered
where span_to < span_from
    or (next_from is not null and next_from <> cast({{ dbt.dateadd('day', 1, 'span_to') }} as date))
{% endtest %}
