with

source as (

    select * from {{ source('zendesk', 'tickets') }}

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
