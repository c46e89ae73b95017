{#- Rows of `relation` (a CTE of tickets or responses) matched to a person by the keyed email
    hash: (id_column, stitched_user_id), one person per row — the first stitched_user_id when
    several people carry the hash. `users` must be a CTE with stitched_user_id and email_hash. -#}
{% macro person_by_email(relation, id_column, email_hash_column) -%}
    select * from (
        select
            {{ relation }}.{{ id_column }},
            users.stitched_user_id,
            row_number() over (
                partition by {{ relation }}.{{ id_column }} order by users.stitched_user_id
            ) as match_rank
        from {{ relation }}
        inner join users on {{ relation }}.{{ email_hash_column }} = users.email_hash
    ) ranked
    where match_rank = 1
{%- endmacro %}
