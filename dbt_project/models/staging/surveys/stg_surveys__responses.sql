with

source as (

    select * from {{ source('surveys', 'survey_responses') }}

),

-- raw.survey_responses is merged on id already; keep only the latest version should a key repeat.
latest as (

    select * from (
        select
            *,
            row_number() over (partition by id order by updated_at desc, _dlt_load_id desc)
                as version_rank
        from source
    ) ranked
    where version_rank = 1

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
