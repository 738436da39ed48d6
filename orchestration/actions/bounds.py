"""What an operator types is bounded before it is logged: amounts, texts, codes, id prefixes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from orchestration.actions.core import (
    AMOUNT_PLACES,
    CONTROL_CHARS,
    CONTROL_CHARS_BUT_LINES,
    ID_PREFIX,
    MAX_ABS_AMOUNT,
    MAX_CODE_CHARS,
    MAX_TEXT_CHARS,
    InvalidInput,
    NotFound,
    char_named,
)

# ------------------------------------------------------------------- bounds

# Plain decimal notation only. An exponent (1e3), NaN or Infinity is refused, as ingestion
# quarantines them in a landing file's money column: money is written in plain digits.
AMOUNT_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
EXPONENT_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")
NOT_FINITE_TEXT = re.compile(r"[+-]?(s?nan[0-9]*|inf(inity)?)", re.IGNORECASE)


def parse_amount(value: object, argument: str = "--amount") -> Decimal:
    """An adjustment amount as a Decimal the warehouse can hold, or a refusal naming the bound.

    Finite, not zero, |amount| <= 1,000,000,000,000 and at most 4 decimal places: the
    warehouse stores DECIMAL(18, 4) and sums adjustments.
    """
    allowed = (
        f"{argument} must be a non-zero decimal number between -{MAX_ABS_AMOUNT:,} and {MAX_ABS_AMOUNT:,} "
        f"with at most {AMOUNT_PLACES} decimal places, e.g. 125.50"
    )
    text = str(value).strip() if value is not None else ""
    if not text or len(text) > 40:
        raise InvalidInput(f"{allowed}; got {text[:40]!r}{'…' if len(text) > 40 else ''}")
    if not text.isascii():  # Decimal reads other scripts' digits too (١٢٣ is 123): not what a ledger shows
        raise InvalidInput(f"{allowed}, in ASCII digits 0-9; got {text!r}")
    if EXPONENT_TEXT.fullmatch(text):
        raise InvalidInput(f"{allowed}; got {text!r}, a number in exponent notation: {_plain_hint(text)}")
    if NOT_FINITE_TEXT.fullmatch(text):
        raise InvalidInput(f"{allowed}; got {text!r}, which is not a finite number")
    if not AMOUNT_TEXT.fullmatch(text):  # nor 1_000 (Decimal's underscores), hex or words
        raise InvalidInput(f"{allowed} (a decimal number, e.g. 125.50); got {text!r}")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{allowed} (a decimal number, e.g. 125.50); got {text!r}") from exc
    if not amount.is_finite():
        raise InvalidInput(f"{allowed}; got {text!r}, which is not a finite number")
    if amount.is_zero():
        raise InvalidInput(f"{allowed}; got {text!r}: an adjustment of zero changes nothing")
    if abs(amount) > MAX_ABS_AMOUNT:
        raise InvalidInput(f"{allowed}; got {text!r}, outside that range")
    quantum = Decimal(1).scaleb(-AMOUNT_PLACES)
    if amount != amount.quantize(quantum):
        raise InvalidInput(f"{allowed}; got {text!r}, which has more than {AMOUNT_PLACES} decimal places")
    if amount.as_tuple().exponent < -AMOUNT_PLACES:  # 12.500000: same value, fewer zeros
        amount = amount.quantize(quantum)
    return amount


def _plain_hint(text: str) -> str:
    """What to type instead of an exponent: "write 1000.00" for 1e3, when the value is one
    an adjustment can take (a huge exponent is not expanded into a million digits)."""
    value = Decimal(text)
    quantum = Decimal(1).scaleb(-AMOUNT_PLACES)
    if value.is_zero() or abs(value) > MAX_ABS_AMOUNT or value != value.quantize(quantum):
        return "write it in plain digits, as money is written in landing files"
    cents = value.quantize(Decimal("0.01"))
    plain = format(cents if cents == value else value.normalize(), "f")
    return f"write {plain} (money is written in plain digits, as in landing files)"


def amount_text(amount: Decimal) -> str:
    """Plain notation (never 1E+3), as the log stores it."""
    return format(amount, "f")


def check_text(value: str | None, argument: str, limit: int, allow_newlines: bool = False) -> str | None:
    """Free text within ``limit`` characters and without control characters, or a refusal."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{argument} must be text")
    if allow_newlines:
        value = value.replace("\r\n", "\n")  # a browser's text area sends CRLF line breaks
    if len(value) > limit:
        raise InvalidInput(f"{argument} is {len(value)} characters; at most {limit} are allowed")
    found = (CONTROL_CHARS_BUT_LINES if allow_newlines else CONTROL_CHARS).search(value)
    if found:
        # Named, with where: the operator cannot see it (a zero-width space pasted from a web
        # page, a tab from a spreadsheet) and must be told what to delete.
        others = len((CONTROL_CHARS_BUT_LINES if allow_newlines else CONTROL_CHARS).findall(value)) - 1
        more = f" and {others} more such character(s)" if others else ""
        raise InvalidInput(
            f"{argument} contains {char_named(found.group())} at character {found.start() + 1}{more}: control, "
            "invisible and direction-changing characters are refused, so that what a reader sees is what was "
            f"recorded; delete {'them' if others else 'it'}{' (type spaces for a tab)' if chr(9) in value else ''}"
        )
    return value


def check_inputs(kw: dict) -> dict:
    """Bound every argument an interface passes to ``ActionStore.act`` before any rule runs."""
    out = dict(kw)
    out["comment"] = check_text(kw.get("comment"), "--text", MAX_TEXT_CHARS, allow_newlines=True)
    for key, argument in (
        ("reason", "--reason"),
        ("team", "--team"),
        ("adjustment", "--adjustment"),
        ("link_id", "--link"),
    ):
        out[key] = check_text(kw.get(key), argument, MAX_CODE_CHARS)
    if kw.get("amount") is not None:
        out["amount"] = parse_amount(kw["amount"])
    return out


def check_id_prefix(prefix: object) -> str:
    if not isinstance(prefix, str) or not ID_PREFIX.fullmatch(prefix):
        shown = repr(prefix)[:80]
        raise NotFound(
            f"no exception with id {shown}: an id is up to {MAX_CODE_CHARS} letters, digits, - or _ "
            "(run `recon exceptions list`)"
        )
    return prefix
