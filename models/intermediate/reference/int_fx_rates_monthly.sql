-- Monthly FX rates for every month a record may carry, not only the months the seed
-- lists: a month outside seeds/fx_rates.csv takes the nearest listed month's rate (the
-- latest earlier one, else the earliest later one) and says so in `is_rate_carried`.
-- One invoice dated before the rate table starts must not stop every run; the carried
-- rate is visible, and the seed can be extended to replace it.
with

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

-- At least the landing contract's date range (orchestration/contract.py MIN_DATE, MAX_DATE):
-- any date ingestion accepts has a rate. tests/python/test_ranges.py builds with both ends.
bounds as (
    select
        least(min(fx_rates.rate_month) - interval 20 year, date '2000-01-01') as first_month,
        greatest(max(fx_rates.rate_month) + interval 20 year, date '2099-12-01') as last_month
    from fx_rates
),

months as (
    select cast(month_start as date) as rate_month
    from bounds
    {{ recon_cross_join_series('bounds.first_month', 'bounds.last_month', 'interval 1 month', 'series', 'month_start') }}
),

currencies as (
    select distinct fx_rates.currency from fx_rates
),

grid as (
    select
        currencies.currency,
        months.rate_month,
        fx_rates.rate_to_usd as listed_rate
    from currencies
    cross join months
    left join fx_rates
        on currencies.currency = fx_rates.currency
        and months.rate_month = fx_rates.rate_month
),

filled as (
    select
        grid.currency,
        grid.rate_month,
        coalesce(
            grid.listed_rate,
            {{ recon_last_value_ignore_nulls('grid.listed_rate') }} over (
                partition by grid.currency order by grid.rate_month
                rows between unbounded preceding and current row
            ),
            {{ recon_first_value_ignore_nulls('grid.listed_rate') }} over (
                partition by grid.currency order by grid.rate_month
                rows between current row and unbounded following
            )
        ) as rate_to_usd,
        grid.listed_rate is null as is_rate_carried
    from grid
)

select * from filled
