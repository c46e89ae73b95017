-- Every event with the person it belongs to: its own user_id; else the user its anonymous id was
-- identified as (so activity before sign-up counts for the user); else the anonymous id.
with

events as (

    select * from {{ ref('stg_segment__events') }}

),

identity as (

    select * from {{ ref('int_identity__anonymous_users') }}

)

select
    events.*,
    coalesce(events.user_id, identity.user_id, events.anonymous_id) as stitched_user_id,
    coalesce(events.user_id, identity.user_id) is not null as is_identified
from events
left join identity on events.anonymous_id = identity.anonymous_id
