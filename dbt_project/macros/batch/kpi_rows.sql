{#- Every row the KPI marts are computed from, reduced to (family, person_id, period_hour, row_at,
    row_hash): a session with its person's segment attributes, a page view likewise, an order
    event, a feedback item, a ticket, a survey response (plans are the person's plan at the row's
    time: int_identity__plans). Two snapshots of these rows, before and after a batch, differ
    exactly in the periods whose KPIs changed (macros/batch/batch.sql). row_at is the row's time.

    `rel` maps fct_sessions, fct_page_views, fct_events, fct_feedback_experience, fct_tickets,
    fct_survey_responses, dim_users and int_identity__plans to relations. `persons` (SQL returning
    person_id, rebuild_from_at) limits the person-level families (sessions, page views, orders)
    to those persons' rows at or after rebuild_from_at (null: all), with `bound` (a timestamp
    literal, optional) as an overall lower bound; the feedback, ticket and response families are
    small and always taken whole. `families` picks 'person' or 'whole'. -#}
{% macro kpi_input_rows(rel, persons, families, bound=none) -%}
    {#- name: (relation, time column, what the row hash covers, extra filter); `u` is the
        person's dim_users row, `p` their plan at the row's time, joined where the hash uses them.
        A session's and a page view's plan is in their row (t); so are their device, OS, browser
        and country. Every response and ticket has a feedback row at its own hour, whose hash
        covers its segments (device, OS, browser, country in t; plan; first-touch source): the
        'ticket' and 'response' families hash only their own row. -#}
    {%- set person_families = [
        ('session', 'fct_sessions', 'session_start_at', ['t', 'u.first_touch_source'], none),
        ('page_view', 'fct_page_views', 'viewed_at', ['t', 'u.first_touch_source'], none),
        ('order', 'fct_events', 'event_at', ['t.message_id'],
            "t.event_name = '" ~ var('conversion_event') ~ "'"),
    ] -%}
    {%- set whole_families = [
        ('feedback', 'fct_feedback_experience', 'feedback_at',
            ['t', 'p.plan', 'u.first_touch_source'], none),
        ('ticket', 'fct_tickets', 'created_at', ['t'], none),
        ('response', 'fct_survey_responses', 'created_at', ['t'], none),
    ] -%}
    {%- for name, relation, period, hashed, condition in
            (person_families if families == 'person' else whole_families) %}
    {{ "union all" if not loop.first }}
    select
        '{{ name }}' as family,
        {% if families == 'person' -%}
        t.stitched_user_id
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as person_id,
        cast({{ dbt.date_trunc('hour', 't.' ~ period) }} as {{ dbt.type_timestamp() }}) as period_hour,
        cast(t.{{ period }} as {{ dbt.type_timestamp() }}) as row_at,
        {{ row_hash(hashed) }} as row_hash
    from {{ rel[relation] }} as t
    {%- if families == 'person' %}
    {#- only those persons' dim_users rows: a hash table of every person (1.4M at 30 days) per
        family and snapshot otherwise #}
    left join (
        select * from {{ rel.dim_users }}
        where stitched_user_id in (select person_id from ({{ persons }}) as rebuilt_persons)
    ) as u on t.stitched_user_id = u.stitched_user_id
    {%- else %}
    left join {{ rel.dim_users }} as u on t.stitched_user_id = u.stitched_user_id
    {%- endif %}
    {%- if 'p.plan' in hashed %}
    {{ join_plan_at('p', 't.stitched_user_id', 't.' ~ period, rel.int_identity__plans) }}
    {%- endif %}
    where {{ condition or 'true' }}
    {%- if families == 'person' %}
        and {{ rows_rebuilt_from('(' ~ persons ~ ')', 't.stitched_user_id', 't.' ~ period, bound) }}
    {%- endif %}
    {%- endfor %}
{%- endmacro %}


{#- The KPI input relations as they are now (refs), for the "after" side. -#}
{% macro kpi_input_refs() -%}
    {%- set rel = {} -%}
    {%- for name in ['fct_sessions', 'fct_page_views', 'fct_events', 'fct_feedback_experience',
                     'fct_tickets', 'fct_survey_responses', 'dim_users', 'int_identity__plans'] -%}
        {%- do rel.update({name: ref(name)}) -%}
    {%- endfor -%}
    {{ return(rel) }}
{%- endmacro %}


{#- The same relations as the previous run left them, for the "before" side: the snapshot model
    runs before these marts are rebuilt, so it reads them as the before_batch sources (a ref
    would be a cycle). None when one of them does not exist yet (a new warehouse). -#}
{% macro kpi_input_relations_before() -%}
    {%- set rel = {} -%}
    {%- for name in ['fct_sessions', 'fct_page_views', 'fct_events', 'fct_feedback_experience',
                     'fct_tickets', 'fct_survey_responses', 'dim_users', 'int_identity__plans'] -%}
        {#- every source looked up, so that parsing records each dependency -#}
        {%- do rel.update({name: source_if_built(
            'before_batch' if name.startswith('int_') else 'before_batch_marts', name)}) -%}
    {%- endfor -%}
    {{ return(none if none in rel.values() else rel) }}
{%- endmacro %}


{#- A source table's relation when it exists in the warehouse, else none (and none at parse
    time, when dbt only records the dependency). -#}
{% macro source_if_built(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {{ return(adapter.get_relation(relation.database, relation.schema, relation.identifier)) }}
{%- endmacro %}


{#- A hash of a row (a table alias) and extra expressions; engine-specific, so dispatched. -#}
{% macro row_hash(expressions) -%}
    {{ return(adapter.dispatch('row_hash', 'cx_warehouse')(expressions)) }}
{%- endmacro %}

{% macro default__row_hash(expressions) -%}
    md5(cast(row({{ expressions | join(', ') }}) as {{ dbt.type_string() }}))
{%- endmacro %}

{% macro spark__row_hash(expressions) -%}
    md5(to_json(struct({{ expressions | join(', ') }})))
{%- endmacro %}


{#- The hours from start (inclusive) to end (exclusive), as rows of period_hour. -#}
{% macro hours_between(start, end) -%}
    {{ return(adapter.dispatch('hours_between', 'cx_warehouse')(start, end)) }}
{%- endmacro %}

{% macro default__hours_between(start, end) -%}
    select unnest(generate_series({{ start }}, {{ end }} - interval 1 hour, interval 1 hour)) as period_hour
{%- endmacro %}

{% macro spark__hours_between(start, end) -%}
    select explode(sequence({{ start }}, {{ end }} - interval 1 hour, interval 1 hour)) as period_hour
{%- endmacro %}
