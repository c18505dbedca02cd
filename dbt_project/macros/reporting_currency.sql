{#-
  One reporting currency (registry reporting_currency:): costs.x_*InReportingCurrency are BilledCost and
  EffectiveCost at the rate of the row's charge date (orchestration/warehouse/reporting.py resolves the
  rate per partition, day and currency; connectors/exchange_rates.py says how rates are derived).

  A missing rate gives NULL, never 0; the analyst marts' sums are NULL too when any row they add has no
  rate (costlake_sum_in_reporting_currency), so a partial total never passes for a whole one.
-#}

{#- amount x rate, rounded once to 18 decimals (half away from zero), exactly. DECIMAL(38,18) x
    DECIMAL(38,18) has 36 decimals and would leave 2 integer digits, so the product is taken in three
    parts that each fit: int(a) x r and frac(a) x int(r) are exact at scale 18, frac(a) x frac(r) is below
    1 (scale 36) and is the only part rounded. int() truncates toward zero, so every part has the sign of
    the amount and the rounding is symmetric. -#}
{% macro costlake_convert(amount, rate) -%}
  {%- set a = 'cast(' ~ amount ~ ' as decimal(38,18))' -%}
  {%- set r = 'cast(' ~ rate ~ ' as decimal(38,18))' -%}
  {%- set a_int = '(case when ' ~ a ~ ' < 0 then ceil(' ~ a ~ ') else floor(' ~ a ~ ') end)' -%}
  {%- set r_int = '(case when ' ~ r ~ ' < 0 then ceil(' ~ r ~ ') else floor(' ~ r ~ ') end)' -%}
  {%- set a_frac = 'cast(' ~ a ~ ' - ' ~ a_int ~ ' as decimal(18,18))' -%}
  {%- set r_frac = 'cast(' ~ r ~ ' - ' ~ r_int ~ ' as decimal(18,18))' -%}
  (cast({{ a_int }} * {{ r }} as decimal(38,18))
   + cast({{ a_frac }} * {{ r_int }} as decimal(38,18))
   + cast({{ a_frac }} * {{ r_frac }} as decimal(38,18)))
{%- endmacro %}

{#- An amount in the reporting currency: itself when it is billed in it, else converted; NULL without a
    reporting currency or a rate. -#}
{% macro costlake_in_reporting_currency(amount, billing_currency, reporting_currency, rate) -%}
  case
    when {{ reporting_currency }} is null or {{ amount }} is null then null
    when {{ billing_currency }} = {{ reporting_currency }} then cast({{ amount }} as decimal(38,18))
    when {{ rate }} is null then null
    else {{ costlake_convert(amount, rate) }}
  end
{%- endmacro %}

{#- sum(value) over the rows where ``condition`` holds, NULL when any of those rows has no value (a missing
    rate) or the group has no reporting currency; 0 when no row qualifies. -#}
{% macro costlake_sum_in_reporting_currency(value, condition='true', currency='"x_ReportingCurrency"') -%}
  case
    when max({{ currency }}) is null then null
    when count(case when {{ condition }} then 1 end) = count(case when {{ condition }} then {{ value }} end)
      then cast(coalesce(sum(case when {{ condition }} then {{ value }} end), 0) as decimal(38,18))
  end
{%- endmacro %}
