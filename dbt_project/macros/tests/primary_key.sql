{#- Generic test: the column is a primary key - no null, no value twice. One query (one node
    in the run) where `unique` and `not_null` take two: a batch runs ~20 fewer tests. -#}
{% test primary_key(model, column_name) %}
    select {{ column_name }}, count(*) as n
    from {{ model }}
    group by {{ column_name }}
    having count(*) > 1 or {{ column_name }} is null
{% endtest %}
