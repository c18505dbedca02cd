{#-
  The one column list of the `costs` mart. Every provider's int_<provider>__focus model selects these
  names; int_costs__unioned fills what a provider lacks with a typed NULL. Types use dbt's
  cross-database type macros so the same models run on DuckDB and Spark.
-#}
{% macro focus_columns() -%}
  {#- Every column of the FOCUS 1.2 CostAndUsage dataset (57, as the FinOps Foundation's validator lists
      them), then our x_ extensions. Unit prices are money; quantities are decimals too. -#}
  {{ return([
    ('BilledCost', 'money'), ('EffectiveCost', 'money'), ('ListCost', 'money'), ('ContractedCost', 'money'),
    ('BillingCurrency', 'string'),
    ('BillingAccountId', 'string'), ('BillingAccountName', 'string'), ('BillingAccountType', 'string'),
    ('SubAccountId', 'string'), ('SubAccountName', 'string'), ('SubAccountType', 'string'),
    ('BillingPeriodStart', 'timestamp'), ('BillingPeriodEnd', 'timestamp'),
    ('ChargePeriodStart', 'timestamp'), ('ChargePeriodEnd', 'timestamp'),
    ('ChargeCategory', 'string'), ('ChargeClass', 'string'), ('ChargeFrequency', 'string'),
    ('ChargeDescription', 'string'),
    ('ProviderName', 'string'), ('PublisherName', 'string'), ('InvoiceIssuerName', 'string'), ('InvoiceId', 'string'),
    ('ServiceName', 'string'), ('ServiceCategory', 'string'), ('ServiceSubcategory', 'string'),
    ('RegionId', 'string'), ('RegionName', 'string'), ('AvailabilityZone', 'string'),
    ('ResourceId', 'string'), ('ResourceName', 'string'), ('ResourceType', 'string'),
    ('SkuId', 'string'), ('SkuPriceId', 'string'), ('SkuMeter', 'string'), ('SkuPriceDetails', 'string'),
    ('PricingCategory', 'string'),
    ('PricingQuantity', 'quantity'), ('PricingUnit', 'string'),
    ('ListUnitPrice', 'money'), ('ContractedUnitPrice', 'money'),
    ('PricingCurrency', 'string'), ('PricingCurrencyListUnitPrice', 'money'),
    ('PricingCurrencyContractedUnitPrice', 'money'), ('PricingCurrencyEffectiveCost', 'money'),
    ('ConsumedQuantity', 'quantity'), ('ConsumedUnit', 'string'),
    ('CommitmentDiscountId', 'string'), ('CommitmentDiscountName', 'string'), ('CommitmentDiscountType', 'string'),
    ('CommitmentDiscountCategory', 'string'), ('CommitmentDiscountStatus', 'string'),
    ('CommitmentDiscountQuantity', 'quantity'), ('CommitmentDiscountUnit', 'string'),
    ('CapacityReservationId', 'string'), ('CapacityReservationStatus', 'string'),
    ('Tags', 'string'),
    ('x_AccountKey', 'string'), ('x_BillingMonth', 'string'), ('x_CostBasis', 'string'),
    ('x_UnblendedCost', 'money'), ('x_BlendedCost', 'money'),
    ('x_ChargeType', 'string'), ('x_UsageType', 'string'), ('x_Operation', 'string'),
    ('x_InvoicingEntity', 'string'),
    ('x_LineItemId', 'string'), ('x_ExportFormat', 'string'),
    ('x_SourceFile', 'string'), ('x_SourceRunId', 'string'),
    ('x_PricingUnit', 'string'),
    ('x_ReportingCurrency', 'string'), ('x_BilledCostInReportingCurrency', 'money'),
    ('x_EffectiveCostInReportingCurrency', 'money'), ('x_Tags', 'tags'),
  ]) }}
{%- endmacro %}

{% macro focus_type(kind) -%}
  {#- decimal(38,18) is valid on DuckDB and Spark alike; dbt.type_numeric() has no fixed scale. -#}
  {%- if kind in ('money', 'quantity') -%}decimal(38,18)
  {%- elif kind == 'timestamp' -%}{{ dbt.type_timestamp() }}
  {%- elif kind == 'tags' -%}{{ costlake_tag_map_type() }}
  {%- else -%}{{ dbt.type_string() }}
  {%- endif -%}
{%- endmacro %}

{#-
  What a column a provider does not produce becomes, when FOCUS allows no NULL there and the value
  follows from columns every provider has: ServiceSubcategory 'Other (<ServiceCategory>)' is FOCUS's
  own value for "no finer subcategory" (a provider with a real mapping produces the column itself).
-#}
{% macro focus_fallback(name, relation_alias) -%}
  {%- if name == 'ServiceSubcategory' -%}
    {{ dbt.concat(["'Other ('", relation_alias ~ "." ~ adapter.quote('ServiceCategory'), "')'"]) }}
  {%- else -%}
    null
  {%- endif -%}
{%- endmacro %}

{#-
  Select the FOCUS column list from a provider model, casting each column to its mart type. A column
  the provider does not produce (yet) becomes a typed NULL (or its focus_fallback), so the list can
  grow without breaking any provider (the fivetran union pattern). Column names are looked up at run
  time.
-#}
{% macro select_focus_columns(relation, relation_alias) -%}
  {%- set present = [] -%}
  {%- set floating = [] -%}
  {%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
      {%- do present.append(column.name | lower) -%}
      {%- if column.is_float() -%}{%- do floating.append(column.name | lower) -%}{%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {%- for name, kind in focus_columns() %}
    {%- if kind in ('money', 'quantity') and (name | lower) in floating %}
    {#- a DOUBLE (e.g. GCP usage amounts) becomes a DECIMAL the same way on every engine -#}
    {{ costlake_double_to_decimal(relation_alias ~ '.' ~ adapter.quote(name)) }} as {{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- elif not execute or (name | lower) in present %}
    cast({{ relation_alias }}.{{ adapter.quote(name) }} as {{ focus_type(kind) }}) as {{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- else %}
    cast({{ focus_fallback(name, relation_alias) }} as {{ focus_type(kind) }}) as {{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- endif %}
  {%- endfor %}
{%- endmacro %}
