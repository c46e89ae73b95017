{%- set columns = {
    'id': dbt.type_string(), 'survey_id': dbt.type_string(), 'survey_type': dbt.type_string(), 'score': dbt.type_bigint(),
    'comment': dbt.type_string(), 'respondent__user_id': dbt.type_string(), 'respondent__anonymous_id': dbt.type_string(),
    'respondent__email_hash': dbt.type_string(), 'trigger__type': dbt.type_string(), 'trigger__name': dbt.type_string(),
    'source': dbt.type_string(), 'created_at': type_timestamp_tz(), 'updated_at': type_timestamp_tz(), '_dlt_load_id': dbt.type_string()} %}
with

source as (

    {{ source_or_empty('surveys', 'survey_responses', columns) }}

),

latest as (

    {{ latest_version('source', 'id') }}

),

renamed as (

    select
        id as response_id,
        survey_id,
        survey_type,
        cast(score as integer) as score,
        comment,
        respondent__user_id as respondent_user_id,
        respondent__anonymous_id as respondent_anonymous_id,
        respondent__email_hash as respondent_email_hash,
        trigger__type as trigger_type,
        trigger__name as trigger_name,
        -- Which feed brought it: typeform, or the generic export (files or its HTTP API).
        coalesce(source, 'generic_export') as response_source,
        created_at,
        updated_at,
        _dlt_load_id as load_id

    from latest

)

select * from renamed
