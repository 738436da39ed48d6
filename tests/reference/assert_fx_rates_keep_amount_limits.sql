-- Every amount within its currency's range (recon_amount_limit, rendered from the landing
-- contract's AMOUNT_LIMITS), converted at one month's seeded rates into any other currency,
-- must stay below recon_max_abs_converted (10^13) and below five times that currency's own
-- range (an order's leg, recon_within_order_range). The models hold converted amounts in
-- DECIMAL(18, 4), below 10^14, and an order's legs add up many of them: a rate far from the
-- others (a currency much weaker than the yen added to seeds/fx_rates.csv) would let an
-- accepted amount overflow a model and stop every run far from the cause. Attached to the
-- seed, so its failure stops the build before any model converts. One row per pair and month
-- that breaks it.
select
    rate_from.currency as from_currency,
    rate_to.currency as to_currency,
    rate_from.rate_month,
    'seeds/fx_rates.csv: the largest amount the landing contract accepts in ' || rate_from.currency
        || ', converted into ' || rate_to.currency || ', is past what the models compute with:'
        || ' lower that currency''s limit in orchestration/contract.py (AMOUNT_LIMITS), run'
        || ' `recon contract --write`, or correct the rate' as problem
from {{ ref('fx_rates') }} as rate_from
inner join {{ ref('fx_rates') }} as rate_to
    on rate_from.rate_month = rate_to.rate_month
where cast({{ recon_amount_limit('rate_from.currency') }} as double)
    * cast(rate_from.rate_to_usd as double) / cast(rate_to.rate_to_usd as double)
    >= least(
        cast({{ recon_max_abs_converted() }} as double),
        -- An order's leg has five times its currency's range (recon_within_order_range): one
        -- record at the top of its range, converted into the order currency, must fit it.
        5 * cast({{ recon_amount_limit('rate_to.currency') }} as double)
    )
