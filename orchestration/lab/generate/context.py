"""Run-wide constants every block derives the same way: rates, formats, FX, clients, references."""

from __future__ import annotations

import numpy as np

from orchestration.lab.generate.columns import _cat, _hash_u, _month_of, _seed_hash
from orchestration.lab.generate.world import (
    _CCY,
    BAD_ROW_COLUMNS,
    CLIENT_CCY,
    CLIENT_CCY_P,
    CURRENCIES,
    EUR_GMBH_TAX_BP,
    GMBH,
    LABEL_FIRST_MONTH,
    LABEL_MONTHS,
    MANAGERS,
    NAME_WORD_1,
    NAME_WORD_2,
    NAME_WORD_3,
    SUFFIX_BY_CCY,
    TAX_BP,
    load_fx_rates,
)


class Context:
    """Run-wide constants: rates, formats, FX table, client and reference derivations."""

    def __init__(self, seed: int, orders: int, rates: dict[str, float], formats: dict[str, str], bad: bool):
        self.seed = seed
        self.orders = orders
        self.rates = rates
        self.formats = formats
        self.bad_rows = bad
        self.n_clients = max(20, orders // 40)
        # Order references are a seeded bijection of the order number (unique, not sequential)
        # with one spare digit so that most one-digit typos do not hit another order's ref.
        self.ref_digits = max(7, len(str(orders)) + 1)
        self.ref_mod = 10**self.ref_digits
        self.ref_mult = 7_654_321
        self.ref_add = _seed_hash(seed, 1) % self.ref_mod
        self.prj_add = _seed_hash(seed, 2) % self.ref_mod
        self.name_space = len(NAME_WORD_1) * len(NAME_WORD_2) * len(NAME_WORD_3)
        self.name_add = _seed_hash(seed, 3) % self.name_space
        # Feistel-style tables: shuffle the three name words so neighbouring clients differ.
        mix = np.random.default_rng([seed, 7])
        n1, n2, n3 = len(NAME_WORD_1), len(NAME_WORD_2), len(NAME_WORD_3)
        self.name_mix = [mix.integers(0, 1 << 20, size) for size in (n1, n2, n2 * n3)]
        self.fx_micro = self._fx_table()

    def bad_rows_in(self, table: str) -> bool:
        return self.bad_rows and table in BAD_ROW_COLUMNS and self.formats[table] == "csv"

    def ref_number(self, x: np.ndarray) -> np.ndarray:
        return (x * self.ref_mult + self.ref_add) % self.ref_mod

    def project_number(self, x: np.ndarray) -> np.ndarray:
        return (x * 3_333_331 + self.prj_add) % self.ref_mod

    @staticmethod
    def _fx_table() -> np.ndarray:
        """``rate_to_usd`` in millionths, indexed [currency, month since 2024-01]."""
        rates = load_fx_rates()
        table = np.zeros((len(CURRENCIES), LABEL_MONTHS), dtype=np.int64)
        for c, code in enumerate(CURRENCIES):
            for m in range(LABEL_MONTHS):
                month = f"{2024 + m // 12:04d}-{m % 12 + 1:02d}-01"
                if (code, month) not in rates:
                    raise ValueError(f"seeds/fx_rates.csv has no rate for {code} {month}")
                table[c, m] = round(float(rates[(code, month)]) * 1_000_000)
        return table

    def clients(self, k: np.ndarray) -> dict[str, np.ndarray]:
        """Attributes of client ``k``: a pure function of (seed, k), so blocks agree on them."""
        k = np.asarray(k, dtype=np.int64)
        p = (k * 158_219 + self.name_add) % self.name_space
        n1, n2, n3 = len(NAME_WORD_1), len(NAME_WORD_2), len(NAME_WORD_3)
        w1, w2, w3 = p % n1, p // n1 % n2, p // (n1 * n2)
        # Each step is invertible given the others, so distinct k keep distinct names.
        w2 = (w2 + self.name_mix[0][w1]) % n2
        w3 = (w3 + self.name_mix[1][w2]) % n3
        w1 = (w1 + self.name_mix[2][w2 * n3 + w3]) % n1
        ccy_pick = _cat(_hash_u(self.seed, k, 11), CLIENT_CCY_P[:-1])
        ccy = np.array([_CCY[c] for c in CLIENT_CCY])[ccy_pick]
        suffix = np.zeros(len(k), dtype=np.int64)
        u_suffix = _hash_u(self.seed, k, 12)
        for n, code in enumerate(CLIENT_CCY):
            choices = np.array(SUFFIX_BY_CCY[code])
            sel = ccy_pick == n
            suffix[sel] = choices[(u_suffix[sel] * len(choices)).astype(np.int64)]
        return {
            "w1": w1,
            "w2": w2,
            "w3": w3,
            "suffix": suffix,
            "ccy": ccy,
            "manager": (_hash_u(self.seed, k, 13) * len(MANAGERS)).astype(np.int64),
            "terms": np.array([14, 30, 30, 45, 60])[(_hash_u(self.seed, k, 14) * 5).astype(np.int64)],
        }

    def tax_bp(self, ccy: np.ndarray, suffix: np.ndarray) -> np.ndarray:
        bp = np.array([TAX_BP[c] for c in CURRENCIES])[ccy]
        return np.where((ccy == _CCY["EUR"]) & (suffix == GMBH), EUR_GMBH_TAX_BP, bp)

    def convert(self, cents: np.ndarray, src: np.ndarray, dst: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Convert with the seed rates of ``day``'s month, rounded half up to the cent."""
        m = np.clip(_month_of(day) - LABEL_FIRST_MONTH, 0, LABEL_MONTHS - 1)
        num = cents * self.fx_micro[src, m]
        den = self.fx_micro[dst, m]
        return (2 * num + den) // (2 * den)
