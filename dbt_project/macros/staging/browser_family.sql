{#- The browser family of a user-agent string (null when there is none). Plain LIKE patterns,
    portable to every adapter; the order matters: Edge and Samsung Internet also say "Chrome",
    Chrome also says "Safari". The raw user agent is not kept. -#}
{% macro browser_family(user_agent) -%}
    case
        when {{ user_agent }} is null then null
        when {{ user_agent }} like '%Edg/%' then 'Edge'
        when {{ user_agent }} like '%SamsungBrowser/%' then 'Samsung Internet'
        when {{ user_agent }} like '%Firefox/%' or {{ user_agent }} like '%FxiOS/%' then 'Firefox'
        when {{ user_agent }} like '%Chrome/%' or {{ user_agent }} like '%CriOS/%' then 'Chrome'
        when {{ user_agent }} like '%Safari/%' then 'Safari'
        else 'Other'
    end
{%- endmacro %}
