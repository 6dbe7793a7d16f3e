"""Resource quantities: parsed exactly and printed the way Kubernetes prints them."""

from __future__ import annotations

import pytest

from agent_lite.quantity import BINARY_SI, DECIMAL_EXPONENT, DECIMAL_SI, parse_quantity, sum_quantities


@pytest.mark.parametrize(
    ("text", "canonical", "fmt"),
    [
        ("4", "4", DECIMAL_SI),
        ("3800m", "3800m", DECIMAL_SI),
        ("8000m", "8", DECIMAL_SI),
        ("1000", "1k", DECIMAL_SI),
        ("1500", "1500", DECIMAL_SI),
        ("0.5", "500m", DECIMAL_SI),
        ("0.05", "50m", DECIMAL_SI),
        ("1.5k", "1500", DECIMAL_SI),
        ("8Gi", "8Gi", BINARY_SI),
        ("7680Mi", "7680Mi", BINARY_SI),
        ("1024Mi", "1Gi", BINARY_SI),
        ("1536Mi", "1536Mi", BINARY_SI),
        ("1.5Gi", "1536Mi", BINARY_SI),
        ("512", "512", DECIMAL_SI),
        ("100Ki", "100Ki", BINARY_SI),
        ("0.5Ki", "512", BINARY_SI),
        ("1e3", "1e3", DECIMAL_EXPONENT),
        ("0", "0", DECIMAL_SI),
        ("1n", "1n", DECIMAL_SI),
        ("16393568Ki", "16393568Ki", BINARY_SI),
        ("-2", "-2", DECIMAL_SI),
    ],
)
def test_parse_and_print(text: str, canonical: str, fmt: str) -> None:
    """Each quantity prints in Go's canonical form for its notation."""
    quantity = parse_quantity(text)
    assert quantity.format == fmt
    assert str(quantity) == canonical


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "5Xi", "1 Gi", "--1", "Gi"])
def test_rejects_malformed(text: str) -> None:
    """Text the API server would refuse raises ValueError."""
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("parts", "total"),
    [
        (["4", "4"], "8"),
        (["3800m", "3800m"], "7600m"),
        (["8Gi", "8Gi"], "16Gi"),
        (["7680Mi", "7680Mi"], "15Gi"),
        (["1Gi", "512Mi"], "1536Mi"),
        (["500m", "500m"], "1"),
        ([], "0"),
        (["0", "2Gi"], "2Gi"),
        (["1", "1Gi"], "1073741825"),
    ],
)
def test_sums(parts: list[str], total: str) -> None:
    """Sums are exact and keep the first non-zero operand's notation, as Quantity.Add does."""
    assert str(sum_quantities(parse_quantity(p) for p in parts)) == total


def test_finer_than_nano_rounds_up() -> None:
    """Precision beyond nano is rounded away from zero, as the API server stores it."""
    assert str(parse_quantity("0.0000000001")) == "1n"
