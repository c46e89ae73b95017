-- One row per survey response (latest version), from the survey feed or a Segment track event,
-- linked to the respondent's stitched user.
-- Rebuilt whole on every run: tickets and responses are few next to events.
{{ config(tags=['hourly_batch']) }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}
with

responses as (

    select * from {{ ref('int_surveys__responses') }}

),

identity as (

    select * from {{ ref('int_identity__anonymous_users') }}

),

users as (

    select stitched_user_id, user_id, email_hash from {{ ref('dim_users') }}

),

by_email as (

    {{ person_by_email('responses', 'response_id', 'respondent_email_hash') }}

)

select
    responses.response_id,
    responses.survey_id,
    responses.survey_type,
    cast(responses.score as integer) as score,
    case when responses.survey_type = 'nps' then {{ nps_category('responses.score') }} end
        as nps_category,
    case when responses.survey_type = 'csat' then responses.score >= 4 end as is_satisfied,
    responses.comment is not null and responses.comment <> '' as has_comment,
    responses.trigger_type,
    responses.trigger_name,
    responses.response_source,
    coalesce(
        responses.respondent_user_id,
        identity.user_id,
        by_email.stitched_user_id,
        responses.respondent_anonymous_id
    ) as stitched_user_id,
    cast(responses.created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(responses.updated_at as {{ dbt.type_timestamp() }}) as updated_at
from responses
left join identity on responses.respondent_anonymous_id = identity.anonymous_id
left join by_email on responses.response_id = by_email.response_id
