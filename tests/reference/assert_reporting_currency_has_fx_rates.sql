-- The reporting currency (var reporting_currency) must have rates in seeds/fx_rates.csv:
-- every *_reporting amount is converted into it, and a code without rates would leave
-- them null far from the cause. Attached to the seed, so its failure stops the build
-- before any model converts. One row when the rates are missing.
select
    '{{ recon_reporting_currency() }}' as reporting_currency,
    'seeds/fx_rates.csv has no rate for var reporting_currency: add its monthly rates, or set the var to a currency it has' as problem
where not exists (
    select 1 from {{ ref('fx_rates') }} as fx_rates
    where fx_rates.currency = '{{ recon_reporting_currency() }}'
)
