"""Demo data generator: realistic, noisy landing files plus the ground truth behind them.

Why it exists: a reconciliation layer is only as good as the mess it can untangle, and
nobody can share real client billing data. This module fabricates what an agency's four
reconciliations see (orders vs invoices, ad delivery vs orders, deliverables vs invoices,
ad lead forms vs CRM leads) with documented, seeded noise, and writes down the truth
(which record belongs to which, and what is wrong with each record) so that matching
rules can be measured instead of eyeballed. ``docs/generator.md`` is the user guide;
``NOISE_RATES`` below is the table it mirrors.

How it scales (10M orders on a laptop):

* Orders are generated in fixed blocks of ``BLOCK_ORDERS``. Every random value is a named
  draw of its block (``block.Draws``: one stream per (seed, block, purpose, name)), so
  blocks need no shared state, a new draw shifts no other, and the output does not depend
  on ``chunk_size``: ``chunk_size`` only decides how rows are split into files and how much
  is held in memory at once.
* Numbers are drawn with numpy, text is assembled with ``pyarrow.compute``: no per-row
  Python except for the handful of deliberately corrupted rows.
* Files are written chunk by chunk; nothing held in memory grows with the number of orders.

Where things are, one module per source and the plumbing around them:

* ``world``: the parameters (``NOISE_RATES``, mixes, calendar, word lists, formats);
* ``context``, ``block``: run-wide derivations, and one block's streams, rows and truth;
* ``crm``, ``billing``, ``ads``, ``fulfilment``, ``leads``: what each source system exports;
* ``text``, ``columns``: names and references as people type them, vectorised helpers;
* ``files``: ``generate`` itself, the chunked landing files and the ground truth.
"""

from __future__ import annotations

from orchestration.lab.generate.files import GenerateResult, generate
from orchestration.lab.generate.world import (
    GENERATOR_VERSION,
    LEGACY_FILE,
    NOISE_RATES,
    effective_rates,
    load_fx_rates,
    table_formats,
)

__all__ = [
    "GENERATOR_VERSION",
    "LEGACY_FILE",
    "NOISE_RATES",
    "GenerateResult",
    "effective_rates",
    "generate",
    "load_fx_rates",
    "table_formats",
]
