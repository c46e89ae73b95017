with

source as (

    select * from {{ source('surveys', 'survey_responses') }}

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
        created_at,
        updated_at,
        _dlt_load_id as load_id

    from latest

)

select * from renamed
