-- How a name seen on an invoice, campaign or project is looked up to find its client:
-- every known name (int_client_names) with its spaces squeezed out ("NguyenRemovals" is
-- "Nguyen Removals"), and, where no full name claims the same key, its first word and
-- first two words ("Rahman" for "Rahman Opticians"). A key resolves to a client only when
-- the best kind of key that claims it names that one client. Every name of two to six
-- words (joining words and "group" / "holdings" aside) also gives its abbreviations: some
-- words cut to their initial, at least one spelled out ("hughes and patel" is "h.patel"
-- and "hughes.p"), so a billed "H. & Patel" finds Hughes & Patel unless another client
-- abbreviates alike. Two more kinds, for billed names that resolve no other way, keyed apart
-- ("core:…", "initials:…") so that no other kind of key hides a second client behind them:
-- every name without a legal form or billing department normalise_client_name leaves on it
-- ("core:ravimorettiveterinary" for Ravi Moretti Veterinary LLP: client_name_core), and the
-- initials of that, two to four letters ("initials:eh" for Eastleigh Hotels, "initials:gdf"
-- for George Dubois Fashion GmbH & Co. KG; joining words and "group" / "holdings" aside), or
-- the core itself where it is two to four letters ("initials:lbs" for LBS GmbH & Co. KG).
-- Each names a client only when no other client's name gives it ("initials:kr" for Kelso
-- Recruitment and Kingsbridge Roofing names no one; "core:pwa" for PWA LLC and PWA LLP
-- neither).
with

client_names as (
    select * from {{ ref('int_client_names') }}
),

words as (
    select
        client_names.client_id,
        client_names.name_normalised,
        {{ recon_string_split('client_names.name_normalised', "' '") }} as name_words
    from client_names
),

keys as (
    select words.client_id, replace(words.name_normalised, ' ', '') as name_key, 'name' as key_kind, 1 as key_rank
    from words
    union all
    select words.client_id, {{ recon_list_element('words.name_words', 1) }}, 'first_word', 2
    from words
    where {{ recon_list_length('words.name_words') }} >= 2 and length({{ recon_list_element('words.name_words', 1) }}) >= 4
    union all
    select words.client_id, {{ recon_list_element('words.name_words', 1) }} || {{ recon_list_element('words.name_words', 2) }}, 'first_two_words', 2
    from words
    where {{ recon_list_length('words.name_words') }} >= 3
    union all
    select abbreviations.client_id, abbreviations.name_key, 'abbreviated', 3
    from (
        select
            words.client_id,
            {{ recon_list_join(recon_list_transform_indexed(
                'words.kept_words', 'word', 'position',
                'case when (masks.mask >> (position - 1)) & 1 = 1 then left(word, 1) else word end'
            ), "'.'") }} as name_key
        from (
            select words.client_id, {{ client_name_words('words.name_normalised') }} as kept_words
            from words
        ) as words
        -- Each mask cuts the words whose bit is set; never none, never all.
        inner join range(1, 63) as masks (mask)
            on masks.mask < (1 << {{ recon_list_length('words.kept_words') }}) - 1
        where {{ recon_list_length('words.kept_words') }} between 2 and 6
    ) as abbreviations
    union all
    select words.client_id, 'core:' || replace({{ client_name_core('words.name_normalised') }}, ' ', ''), 'core', 4
    from words
    union all
    -- A name whose core is itself two to four letters ("LBS GmbH & Co. KG") claims those
    -- letters as initials too: "lbs" is then no one's when it is also the initials of Lukas
    -- Bergstrom Skincare.
    select words.client_id, 'initials:' || coalesce(
        case when {{ recon_regexp_full_match(client_name_core('words.name_normalised'), '[a-z]{2,4}') }}
            then {{ client_name_core('words.name_normalised') }} end,
        {{ client_initials(client_name_core('words.name_normalised')) }}
    ), 'initials', 5
    from words
    where {{ recon_regexp_full_match(client_name_core('words.name_normalised'), '[a-z]{2,4}') }}
        or length({{ client_initials(client_name_core('words.name_normalised')) }}) between 2 and 4
),

best_keys as (
    {{ recon_qualify('*', 'from keys', 'keys.key_rank = min(keys.key_rank) over (partition by keys.name_key)') }}
),

resolved as (
    select
        best_keys.name_key,
        min(best_keys.key_kind) as key_kind,
        min(best_keys.client_id) as client_id
    from best_keys
    group by best_keys.name_key
    having count(distinct best_keys.client_id) = 1
)

select * from resolved
