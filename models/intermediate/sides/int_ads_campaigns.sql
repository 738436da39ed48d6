-- One row per ad campaign: its delivery summed over the flight (negative days are
-- platform credits and reduce it), the order reference its name carries in any shape
-- (int_reference_mentions), the brand its name carries, the client its ad account belongs
-- to, and the platform credits granted against it. Campaigns are what orders are matched to.
with

delivery as (
    select * from {{ ref('stg_ads__delivery') }}
),

credits as (
    select * from {{ ref('stg_ads__credits') }}
),

mentions as (
    select * from {{ ref('int_reference_mentions') }}
    where record_type = 'campaign'
),

client_name_keys as (
    select * from {{ ref('int_client_name_keys') }}
),

clients as (
    select * from {{ ref('int_clients') }}
),

order_references as (
    select * from {{ ref('int_order_references') }}
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

campaign_credits as (
    select
        credits.campaign_id,
        sum(credits.credit_amount) as credit_amount
    from credits
    where credits.campaign_id is not null
    group by credits.campaign_id
),

campaigns as (
    select
        delivery.campaign_id,
        min(delivery.platform) as platform,
        min(delivery.account_id) as account_id,
        min(delivery.account_name) as account_name,
        min(delivery.campaign_name) as campaign_name,
        min(delivery.currency) as currency,
        min(delivery.delivery_date) as first_delivery_date,
        max(delivery.delivery_date) as last_delivery_date,
        count(*) as delivery_days,
        cast(sum(delivery.spend_amount) as decimal(18, 4)) as spend_amount
    from delivery
    -- Held out when its platform credits add up past what the models compute with (150
    -- credits at 999,999,999,999 overflowed credit_amount below and stopped the run), or
    -- its days do (having): raised as amount_out_of_range by int_amounts_out_of_range.
    where delivery.campaign_id not in (
        select credits.campaign_id
        from credits
        where credits.campaign_id is not null
        group by credits.campaign_id
        having not {{ recon_within_aggregate_range(
            'sum(abs(cast(credits.credit_amount as decimal(38, 4))))', 'min(credits.currency)'
        ) }}
    )
    group by delivery.campaign_id
    having {{ recon_within_aggregate_range(
        'sum(abs(cast(delivery.spend_amount as decimal(38, 4))))', 'min(delivery.currency)'
    ) }}
),

brands as {{ recon_materialized_cte() }} (
    -- The brand is the first part of the name left once codes (words holding three or
    -- more digits: the reference, a date) are taken out: names are cut at "|", "[", "]",
    -- "_" and a spaced dash ("IO-001149 | ACME | Search", "[IO-013676] Acme - Prospecting",
    -- "Acme_Brand_Q3 io-2320", "44496 Nguyen Conversions Aug 25"). Materialized: named and
    -- brand_forms read it.
    select
        campaigns.campaign_id,
        {{ recon_list_element(recon_list_filter(
            recon_list_transform(
                recon_string_split_regex('campaigns.campaign_name', '\\s*[|\\[\\]_]\\s*|\\s+[-–—:]\\s+'),
                'segment', 'trim(' ~ regexp_replace_all('segment', '\\S*[0-9]{3,}\\S*', '') ~ ')'
            ),
            'segment', "segment <> ''"
        ), 1) }} as brand
    from campaigns
),

brand_forms as (
    -- Each distinct brand normalised once (a chain of regexes): at 1M orders 680,808
    -- campaigns carry 6,369 brands.
    select
        distinct_brands.brand,
        {{ normalise_client_name('distinct_brands.brand') }} as brand_normalised
    from (select distinct brands.brand from brands) as distinct_brands
),

named as {{ recon_materialized_cte() }} (
    -- Materialized: three lookup joins read it.
    select
        campaigns.*,
        mentions.reference_key as campaign_ref_normalised,
        mentions.reference_compared,
        mentions.mention_kind as reference_kind,
        brand_forms.brand_normalised
    from campaigns
    left join mentions
        on campaigns.campaign_id = mentions.record_id
    left join brands
        on campaigns.campaign_id = brands.campaign_id
    left join brand_forms
        on brands.brand = brand_forms.brand
),

named_in_campaign_name as (
    -- A name whose first part is not the client ("Prospecting | Acme | UK") may still name
    -- it further on.
    {{ client_named_in_text('campaigns', 'campaign_id', 'campaign_name') }}
),

accounts as (
    select
        campaigns.account_id,
        min(campaigns.account_name) as account_name
    from campaigns
    where campaigns.account_id is not null
    group by campaigns.account_id
),

named_in_account_name as (
    -- Agencies run one ad account per client and name it after the client ("Acme Ltd",
    -- "ACME (USD)", "Acme | Agency Media", "Acme - Meta").
    {{ client_named_in_text('accounts', 'account_id', 'account_name') }}
),

account_clients_quoted as (
    -- The client of the orders an account's campaigns quote by exact reference, where they
    -- all quote orders of one client: an account named by a code ("HANX LinkedIn account")
    -- is known by what it runs.
    select
        campaigns.account_id,
        min(order_references.client_id) as client_id,
        count(distinct campaigns.campaign_id) as quoting_campaigns
    from campaigns
    inner join mentions
        on campaigns.campaign_id = mentions.record_id
        and mentions.mention_kind = 'exact'
    inner join (
        select distinct order_references.reference_key, order_references.client_id
        from order_references
    ) as order_references
        on mentions.reference_key = order_references.reference_key
    where campaigns.account_id is not null
    group by campaigns.account_id
    having count(distinct order_references.client_id) = 1
),

named_by_campaign as (
    -- The client each campaign's own name names (its brand, else a later part of it). A
    -- brand that is the first word(s) of the client its account is named after ("Fischer |
    -- Lead Gen" in the account "Fischer & Novak - Meta") is that client, even where another
    -- client is known by the brand alone.
    select
        named.campaign_id,
        named.account_id,
        case
            when {{ recon_starts_with("account_client.client_name_canonical || ' '", "named.brand_normalised || ' '") }}
                then account_client.client_id
            else coalesce({{ client_lookup_id('client_key') }}, named_in_campaign_name.client_id)
        end as client_id
    from named
    {{ client_lookup_joins('named.brand_normalised', 'client_key') }}
    left join named_in_campaign_name
        on named.campaign_id = named_in_campaign_name.campaign_id
    left join named_in_account_name
        on named.account_id = named_in_account_name.account_id
    left join clients as account_client
        on named_in_account_name.client_id = account_client.client_id
),

shared_accounts as (
    -- An account whose campaigns name two different clients is shared (an agency's own
    -- account): it says nothing about the client of a campaign that names none.
    select named_by_campaign.account_id
    from named_by_campaign
    where named_by_campaign.account_id is not null
        and named_by_campaign.client_id is not null
    group by named_by_campaign.account_id
    having count(distinct named_by_campaign.client_id) > 1
),

account_clients_named as (
    -- The client an account's campaigns name, where those that name one all name the same
    -- (a shared account is left out below): an account its name does not give to a client
    -- ("Ashdown | Agency Media" beside two clients called Ashdown, "MARM LinkedIn account")
    -- is known by the campaigns run in it, and one of its campaigns naming nobody ("Video
    -- Views GB") runs for that client. A name run in two or more accounts (a template, the
    -- agency's own promotion) says nothing about an account.
    select
        named_by_campaign.account_id,
        min(named_by_campaign.client_id) as client_id
    from named_by_campaign
    inner join campaigns
        on named_by_campaign.campaign_id = campaigns.campaign_id
    where named_by_campaign.account_id is not null
        and named_by_campaign.client_id is not null
        and lower(trim({{ regexp_replace_all('campaigns.campaign_name', '\\s+', ' ') }})) not in (
            select lower(trim({{ regexp_replace_all('all_campaigns.campaign_name', '\\s+', ' ') }}))
            from campaigns as all_campaigns
            group by 1
            having count(distinct all_campaigns.account_id) >= 2
        )
    group by named_by_campaign.account_id
    having count(distinct named_by_campaign.client_id) = 1
),

account_clients as (
    select
        accounts.account_id,
        case
            -- Two or more campaigns quoting one client's orders outweigh a name: an account
            -- named "MULY1 | Northlight" is not the client "Northlight Foods" whose name
            -- the agency's own part of it matches.
            when account_clients_quoted.quoting_campaigns >= 2 then account_clients_quoted.client_id
            else coalesce(
                named_in_account_name.client_id,
                account_clients_quoted.client_id,
                account_clients_named.client_id
            )
        end as client_id
    from accounts
    left join named_in_account_name
        on accounts.account_id = named_in_account_name.account_id
    left join account_clients_quoted
        on accounts.account_id = account_clients_quoted.account_id
    left join account_clients_named
        on accounts.account_id = account_clients_named.account_id
    -- An account its name gives to one client and a single campaign to another names neither.
    where (
            named_in_account_name.client_id is null
            or account_clients_quoted.client_id is null
            or named_in_account_name.client_id = account_clients_quoted.client_id
            or account_clients_quoted.quoting_campaigns >= 2
        )
        and accounts.account_id not in (select shared_accounts.account_id from shared_accounts)
),

resolved as (
    select
        named.*,
        case
            -- Likewise for an account known by the orders its campaigns quote.
            when {{ recon_starts_with("account_client.client_name_canonical || ' '", "named.brand_normalised || ' '") }}
                then account_clients.client_id
            else coalesce(named_by_campaign.client_id, account_clients.client_id)
        end as client_id_resolved
    from named
    inner join named_by_campaign
        on named.campaign_id = named_by_campaign.campaign_id
    left join account_clients
        on named.account_id = account_clients.account_id
    left join clients as account_client
        on account_clients.client_id = account_client.client_id
),

template_names as (
    -- A campaign name run in the accounts of many clients is a template, not an order's
    -- campaign: the agency's own promotion, pixel tests, "Copy of Brand Search". An order's
    -- campaigns carry its client's brand or reference, which no ten clients share. The clients
    -- are counted by the campaign's own client, and again by the client whose account it runs
    -- in: a name that names one client (the agency's own, "Northlight - Awards entry promo")
    -- but runs in the accounts of ten others is a template all the same.
    select lower(trim({{ regexp_replace_all('resolved.campaign_name', '\\s+', ' ') }})) as name_key
    from resolved
    left join account_clients
        on resolved.account_id = account_clients.account_id
    group by 1
    having greatest(
            count(distinct coalesce(resolved.client_id_resolved, resolved.account_id)),
            count(distinct coalesce(account_clients.client_id, resolved.client_id_resolved, resolved.account_id))
        ) >= {{ bounded_var('template_campaign_min_clients', 2, 1000000, integer=true) }}
),

brand_words as (
    -- Unresolved brands of two words or more whose first word starts clients' names: does
    -- one of them start with the first two words?
    select
        resolved.campaign_id,
        not bool_or({{ recon_starts_with(
                "clients.client_name_canonical || ' '",
                "split_part(resolved.brand_normalised, ' ', 1) || ' ' || split_part(resolved.brand_normalised, ' ', 2) || ' '"
            ) }}) as first_word_only
    from resolved
    -- On the first word, an equality (a hash join, not every brand against every client).
    inner join clients
        on split_part(clients.client_name_canonical, ' ', 1) = split_part(resolved.brand_normalised, ' ', 1)
    where resolved.client_id_resolved is null
        and resolved.brand_normalised like '% %'
        and length(split_part(resolved.brand_normalised, ' ', 1)) >= 3
    group by resolved.campaign_id
),

{#- The window in which the reference pass trusts a quoted reference (delivery_orders spec). -#}
{%- set reference_window = (recon_spec('delivery_orders').deterministic
    | selectattr('name', 'equalto', 'reference_in_campaign_name') | first).window_days %}

stale_references as (
    -- A campaign cloned from an old one keeps the old order's reference: a reference that
    -- names only orders whose service period the campaign started far from (outside the
    -- reference pass's window, {{ reference_window.min }} to {{ reference_window.max }} days) is stale. It names no
    -- order the campaign runs for, so it is no evidence against the order it does run for.
    select named.campaign_id
    from named
    inner join (
        select distinct order_references.reference_key, order_references.order_id
        from order_references
    ) as quoted
        on named.campaign_ref_normalised = quoted.reference_key
    inner join orders
        on quoted.order_id = orders.order_id
    where named.reference_kind in ('exact', 'ocr')
    group by named.campaign_id
    having not bool_or(
        case
            when named.first_delivery_date < orders.service_start_date
                then {{ recon_days_between('orders.service_start_date', 'named.first_delivery_date') }}
            when named.first_delivery_date > orders.service_end_date
                then {{ recon_days_between('orders.service_end_date', 'named.first_delivery_date') }}
            else 0
        end between {{ reference_window.min }} and {{ reference_window.max }}
    )
),

final as (
    select
        resolved.*,
        resolved.campaign_id in (select stale_references.campaign_id from stale_references)
            as is_stale_reference,
        lower(trim({{ regexp_replace_all('resolved.campaign_name', '\\s+', ' ') }}))
            in (select template_names.name_key from template_names) as is_template_name,
        coalesce(clients.client_name_canonical, resolved.brand_normalised) as client_name_compared,
        -- The client it resolves to, by the name its orders go by: what its exceptions name
        -- (the spec's exceptions.right.client_name), not the account or campaign name as sent.
        clients.client_name_crm as client_name_resolved,
        -- A brand that names no one client ("Zielinski" when a dozen clients are called
        -- so): its first word, which the names of the clients it may mean start with.
        case
            when resolved.client_id_resolved is null and length(split_part(resolved.brand_normalised, ' ', 1)) >= 3
                then split_part(resolved.brand_normalised, ' ', 1)
        end as brand_first_word,
        -- The name the scored pass compares: none for a one-word brand that names no one
        -- client ("Keane | Awareness | 2026" beside Keane Architects and Keane Dental).
        -- A brand naming no client whose first word starts clients' names but whose first two
        -- words start none ("IO-097737 Byrne Awareness Sep 26": the name runs on into the
        -- campaign's own words) is its first word alone, scored without name evidence like a
        -- one-word brand; "Ashby Pharma", the start of a client's name, stays as it is.
        {{ client_name_scored(
            'resolved.client_id_resolved',
            "case when brand_words.first_word_only then split_part(resolved.brand_normalised, ' ', 1)"
                ~ " else resolved.brand_normalised end",
            'clients.client_name_canonical'
        ) }} as client_name_scored,
        cast(coalesce(campaign_credits.credit_amount, 0) as decimal(18, 4)) as credit_amount,
        -- The last day the delivery data reaches (any campaign's last day): a campaign still
        -- running has run only up to it, and so has the part of a service period gone by.
        max(resolved.last_delivery_date) over () as delivery_data_through
    from resolved
    left join clients
        on resolved.client_id_resolved = clients.client_id
    left join campaign_credits
        on resolved.campaign_id = campaign_credits.campaign_id
    left join brand_words
        on resolved.campaign_id = brand_words.campaign_id
)

select * from final
