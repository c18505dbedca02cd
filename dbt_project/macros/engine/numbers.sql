{#-
  Arithmetic that must give the same DECIMAL(38,18) on every engine (docs/scale-out.md, "Money on two
  engines"). Sums, differences and products of DECIMAL columns are exact on DuckDB and on Spark (Spark
  with spark.sql.decimalOperations.allowPrecisionLoss=false, checked when a Spark run starts). What is not
  exact anywhere is a quotient, and each engine rounds one its own way: DuckDB divides decimals as doubles,
  Spark as decimals whose scale shrinks to 6 digits (or overflows) under its precision rules. So a quotient
  is defined once, here, the way DuckDB has always computed it, and Spark reproduces it bit for bit:

    operands -> DOUBLE      correctly rounded (through their exact text: DuckDB's own DECIMAL -> DOUBLE
                            cast is not correctly rounded for values above 2^53 units)
    quotient                one IEEE-754 division (identical everywhere)
    DOUBLE -> DECIMAL       round half away from zero of x * 10^18, as an exact integer (DuckDB's cast;
                            Spark's own cast goes through Double.toString and rounds elsewhere)
-#}

{#- An exact number as a DOUBLE, correctly rounded. -#}
{% macro costlake_to_double(expr) -%}
  cast(cast({{ expr }} as {{ dbt.type_string() }}) as double)
{%- endmacro %}

{#- numerator / denominator as DECIMAL(38,18) (a floating-point quotient: ~15 significant digits). -#}
{% macro costlake_divide(numerator, denominator) -%}
  {{ costlake_double_to_decimal(costlake_to_double(numerator) ~ ' / ' ~ costlake_to_double(denominator)) }}
{%- endmacro %}

{% macro costlake_double_to_decimal(expr) -%}
  {{ return(adapter.dispatch('costlake_double_to_decimal', 'costlake')(expr)) }}
{%- endmacro %}

{% macro default__costlake_double_to_decimal(expr) -%}
  cast({{ expr }} as decimal(38,18))
{%- endmacro %}

{#- DuckDB's DOUBLE -> DECIMAL(38,18) in Spark SQL. Lambdas bind each intermediate once (the expression
    is not repeated). v = x * 10^18; r = v rounded half away from zero (a double already whole above
    2^52); r is then written out exactly as a1 * 2^94 + a0 * 2^62 + lo, each part a whole BIGINT (every
    step is exact: divisions by powers of two, differences of doubles sharing their unit in the last
    place), and read back as <digits>E-18. Checked against DuckDB on random and tie values by
    tests/e2e/test_spark_equivalence.py. -#}
{% macro spark__costlake_double_to_decimal(expr) -%}
  {%- set p94 = '19807040628566084398385987584' -%}
  {%- set p62 = '4611686018427387904' -%}
  element_at(transform(array(cast({{ expr }} as double) * 1e18), v -> element_at(transform(array(
    case when abs(v) >= 4503599627370496D then v
         else cast(cast(v as bigint) + case when v - cast(v as bigint) >= 0.5 then 1
                                            when v - cast(v as bigint) <= -0.5 then -1 else 0 end as double)
    end), r -> element_at(transform(array(cast(r / {{ p94 }}D as bigint)), a1 -> element_at(transform(array(
      r - cast(a1 as double) * {{ p94 }}D), m -> cast(concat(cast(
          cast(a1 as decimal(38,0)) * {{ p94 }}
          + cast(cast(m / {{ p62 }}D as bigint) as decimal(38,0)) * {{ p62 }}
          + cast(cast(m - cast(cast(m / {{ p62 }}D as bigint) as double) * {{ p62 }}D as bigint) as decimal(38,0))
        as string), 'E-18') as decimal(38,18))
    ), 1)), 1)), 1)), 1)
{%- endmacro %}

{#- round(x, digits) of a DOUBLE: half away from zero of x * 10^digits, divided back (DuckDB's round);
    Spark's round goes through BigDecimal(Double.toString(x)) and differs on values like 1.005. -#}
{% macro costlake_round_double(expr, digits) -%}
  {{ return(adapter.dispatch('costlake_round_double', 'costlake')(expr, digits)) }}
{%- endmacro %}

{% macro default__costlake_round_double(expr, digits) -%}
  round({{ expr }}, {{ digits }})
{%- endmacro %}

{% macro spark__costlake_round_double(expr, digits) -%}
  element_at(transform(array(cast({{ expr }} as double) * {{ 10 ** digits }}D), v ->
    case when abs(v) >= 4503599627370496D or isnan(v) then v
         else cast(cast(v as bigint) + case when v - cast(v as bigint) >= 0.5 then 1
                                            when v - cast(v as bigint) <= -0.5 then -1 else 0 end as double)
    end / {{ 10 ** digits }}D), 1)
{%- endmacro %}
