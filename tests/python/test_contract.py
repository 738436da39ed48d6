"""The rendered contract (docs and dbt sources) and the seeds agree with the code."""

from __future__ import annotations

import csv

from orchestration import contract, contract_docs
from orchestration.settings import PROJECT_DIR


def test_rendered_contract_files_are_up_to_date() -> None:
    stale = contract_docs.stale_files()
    assert stale == [], f"run `recon contract --write`: {stale}"


def test_currency_seed_matches_contract() -> None:
    with open(PROJECT_DIR / "seeds/currencies.csv") as fh:
        assert tuple(row["currency"] for row in csv.DictReader(fh)) == contract.CURRENCIES


def test_fx_seed_covers_every_currency() -> None:
    with open(PROJECT_DIR / "seeds/fx_rates.csv") as fh:
        seen = {row["currency"] for row in csv.DictReader(fh)}
    assert seen == set(contract.CURRENCIES)


def test_every_entity_has_a_key_made_of_required_columns() -> None:
    for ent in contract.ENTITIES:
        assert set(ent.key) <= set(ent.required_columns), ent.table
