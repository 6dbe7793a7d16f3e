"""Kubernetes resource quantities (``3800m``, ``8Gi``, ``1e3``): parse, add, and print them as the API does.

The agent sums node capacity into ``ManagedCluster.status.capacity``; the result must read the way a Go
component would write it (``16Gi``, not ``17179869184``), so ``kubectl get -o yaml`` and upstream tooling
see familiar values. Exact rational arithmetic avoids the rounding drift of floats.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Quantity", "parse_quantity", "sum_quantities", "BINARY_SI", "DECIMAL_SI", "DECIMAL_EXPONENT"]

BINARY_SI = "BinarySI"
DECIMAL_SI = "DecimalSI"
DECIMAL_EXPONENT = "DecimalExponent"

_BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXPONENT = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER = {power: suffix for suffix, power in _BINARY_SUFFIXES.items()}
_QUANTITY = re.compile(
    r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE]?)"
)
_NANO = Fraction(1, 10**9)


@dataclass(frozen=True)
class Quantity:
    """An exact amount and the notation it was written in (Go's ``Quantity.Format``)."""

    value: Fraction
    format: str = DECIMAL_SI

    def __add__(self, other: Quantity) -> Quantity:
        # Go keeps the left operand's format, unless the left side is zero (then the right one's).
        fmt = other.format if self.value == 0 else self.format
        return Quantity(self.value + other.value, fmt)

    def __str__(self) -> str:
        return _canonical(self.value, self.format)


def parse_quantity(text: str) -> Quantity:
    """A quantity from its API text; raises ValueError for anything the API server would refuse."""
    match = _QUANTITY.fullmatch(text.strip())
    if not match:
        raise ValueError(f"quantities must match the regular expression of the API: {text!r}")
    sign, number, suffix = match.groups()
    amount = Fraction(number)
    if suffix in _BINARY_SUFFIXES:
        amount *= 1024 ** _BINARY_SUFFIXES[suffix]
        fmt = BINARY_SI
    elif suffix[:1] in ("e", "E"):
        amount *= Fraction(10) ** int(suffix[1:])
        fmt = DECIMAL_EXPONENT
    else:
        amount *= Fraction(10) ** _DECIMAL_SUFFIXES[suffix]
        fmt = DECIMAL_SI
    if sign == "-":
        amount = -amount
    return Quantity(_round_up_to_nano(amount), fmt)


def sum_quantities(quantities: Iterable[Quantity]) -> Quantity:
    total = Quantity(Fraction(0))
    for quantity in quantities:
        total = total + quantity
    return total


def _round_up_to_nano(amount: Fraction) -> Fraction:
    """The API keeps nine decimal places and rounds anything finer away from zero."""
    scaled = amount / _NANO
    if scaled.denominator == 1:
        return amount
    rounded = math.ceil(scaled) if amount > 0 else math.floor(scaled)
    return Fraction(rounded) * _NANO


def _decimal_parts(amount: Fraction) -> tuple[int, int]:
    """(mantissa, exponent) with the exponent a multiple of 3 and as large as keeps the mantissa whole."""
    exponent = -9
    mantissa = amount / (Fraction(10) ** exponent)
    assert mantissa.denominator == 1, "amounts are rounded to nano precision"
    whole = int(mantissa)
    if whole == 0:
        return 0, 0
    while whole % 1000 == 0:
        whole //= 1000
        exponent += 3
    return whole, exponent


def _canonical(amount: Fraction, fmt: str) -> str:
    if fmt == BINARY_SI and abs(amount) >= 1024 and amount.denominator == 1:
        whole, power = int(amount), 0
        while power < 6 and whole % 1024 == 0:
            whole //= 1024
            power += 1
        return f"{whole}{_BINARY_BY_POWER.get(power, '')}"
    mantissa, exponent = _decimal_parts(amount)
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = _DECIMAL_BY_EXPONENT.get(exponent)
    if suffix is None:  # beyond exa: Go falls back to an exponent
        return f"{mantissa}e{exponent}"
    return f"{mantissa}{suffix}"
