{%- set columns = {
    'id': dbt.type_bigint(), 'created_at': type_timestamp_tz(), 'updated_at': type_timestamp_tz(),
    'status': dbt.type_string(), 'priority': dbt.type_string(), 'type': dbt.type_string(), 'subject': dbt.type_string(),
    'via__channel': dbt.type_string(), 'tags': type_json(), 'requester_id': dbt.type_bigint(),
    'requester__external_id': dbt.type_string(), 'requester__email_hash': dbt.type_string(),
    'assignee_id': dbt.type_bigint(), 'satisfaction_rating__score': dbt.type_string(),
    'metric_set__reply_time_in_minutes__calendar': dbt.type_bigint(),
    'metric_set__full_resolution_time_in_minutes__calendar': dbt.type_bigint(),
    'metric_set__reopens': dbt.type_bigint(), 'metric_set__solved_at': type_timestamp_tz(),
    '_dlt_load_id': dbt.type_string()} %}
with

source as (

    {{ source_or_empty('zendesk', 'tickets', columns) }}

),

latest as (

    {{ latest_version('source', 'id') }}

),

renamed as (

    select
        id as ticket_id,
        created_at,
        updated_at,
        status,
        priority,
        type as ticket_type,
        subject,
        via__channel as channel,
        tags,
        requester_id,
        requester__external_id as requester_user_id,
        requester__email_hash as requester_email_hash,
        assignee_id,
        satisfaction_rating__score as satisfaction_score,
        metric_set__reply_time_in_minutes__calendar as first_reply_minutes,
        metric_set__full_resolution_time_in_minutes__calendar as full_resolution_minutes,
        metric_set__reopens as reopens,
        metric_set__solved_at as solved_at,
        _dlt_load_id as load_id

    from latest

)

select * from renamed
