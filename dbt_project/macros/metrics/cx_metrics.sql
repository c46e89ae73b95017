{#- CX metric formulas: defined once here, used by every mart that reports them. -#}

{#- NPS = % promoters (9-10) - % detractors (0-6), over NPS responses; null without responses. -#}
{% macro nps(score_column) -%}
    100.0 * (
        sum(case when {{ score_column }} >= 9 then 1 else 0 end)
        - sum(case when {{ score_column }} <= 6 then 1 else 0 end)
    ) / nullif(count({{ score_column }}), 0)
{%- endmacro %}

{#- CSAT = % of responses scoring 4 or 5 on the 1-5 scale. -#}
{% macro csat(score_column) -%}
    100.0 * sum(case when {{ score_column }} >= 4 then 1 else 0 end) / nullif(count({{ score_column }}), 0)
{%- endmacro %}

{#- A share in percent, null when the denominator is zero. -#}
{% macro pct(numerator, denominator) -%}
    100.0 * ({{ numerator }}) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- NPS category of a 0-10 score: promoter 9-10, passive 7-8, detractor 0-6. -#}
{% macro nps_category(score_column) -%}
    case
        when {{ score_column }} >= 9 then 'promoter'
        when {{ score_column }} >= 7 then 'passive'
        when {{ score_column }} >= 0 then 'detractor'
    end
{%- endmacro %}

{#- Label of the page-load bucket a time in ms falls in, from var('latency_buckets_ms'):
    with [1000, 2000, 4000] → '<1s', '1-2s', '2-4s', '>=4s'; 'no page loads' when null. -#}
{% macro latency_bucket(ms_column) -%}
    {%- set bounds = var('latency_buckets_ms') -%}
    case
        when {{ ms_column }} is null then 'no page loads'
        {%- for bound in bounds %}
        when {{ ms_column }} < {{ bound }} then '{{ "<" if loop.first else (bounds[loop.index0 - 1] / 1000) | round(1) | string | replace(".0", "") ~ "-" }}{{ (bound / 1000) | round(1) | string | replace(".0", "") }}s'
        {%- endfor %}
        else '>={{ (bounds[-1] / 1000) | round(1) | string | replace(".0", "") }}s'
    end
{%- endmacro %}
