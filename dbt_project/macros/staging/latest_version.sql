{#- The rows of `relation` that are the latest version of their `key` (by `updated_at`, then
    load id). Raw merge tables hold one row per key already; this keeps staging right should a
    key ever repeat. -#}
{% macro latest_version(relation, key, updated_at='updated_at') -%}
    select * from (
        select
            *,
            row_number() over (
                partition by {{ key }} order by {{ updated_at }} desc, _dlt_load_id desc
            ) as version_rank
        from {{ relation }}
    ) ranked
    where version_rank = 1
{%- endmacro %}
