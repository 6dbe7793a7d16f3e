"""A tiny Prometheus registry: counters and gauges (optionally labelled), rendered in the text format.

Both daemons serve ``/metrics`` from it. It is ours rather than ``prometheus_client`` because the daemons
need two metric types and one output format, and the plugin ships as one zipapp where every dependency
counts. ``render`` follows the text exposition format 0.0.4 (HELP/TYPE lines, escaped label values and
help text, ``+Inf``/``-Inf``/``NaN``); ``parse`` reads that format back, strictly, so tests can check
what a scraper would see. Nothing here logs or prints; a collector that fails is skipped for that scrape.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "Counter",
    "DaemonMetrics",
    "Gauge",
    "MetricError",
    "ParsedFamily",
    "Registry",
    "Sample",
    "daemon_metrics",
    "escape_help",
    "escape_label_value",
    "format_value",
    "parse",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

LabelValues = tuple[str, ...]
Collector = Callable[[], Iterable[tuple[LabelValues, float]]]


class MetricError(ValueError):
    """A metric defined or used against the format's rules (bad name, wrong label count, negative inc)."""


@dataclass(frozen=True)
class Sample:
    """One line of an exposition: name, labels in order, value."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


def escape_help(text: str) -> str:
    """HELP text: backslash and newline are escaped (double quotes are not)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label_value(text: str) -> str:
    """Label values: backslash, double quote and newline are escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """Integral values without a fraction (as Go's client writes them); the special floats by their names."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _check_label_names(names: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(names)
    for name in checked:
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise MetricError(f"invalid label name {name!r}")
    if len(set(checked)) != len(checked):
        raise MetricError(f"repeated label name in {checked!r}")
    return checked


class _Family:
    """Shared by Counter and Gauge: name, help, label names, values per label set, optional collector."""

    kind = ""

    def __init__(self, name: str, help_text: str, label_names: Iterable[str] = ()) -> None:
        if not _METRIC_NAME.match(name):
            raise MetricError(f"invalid metric name {name!r}")
        self.name = name
        self.help = help_text
        self.label_names = _check_label_names(label_names)
        self._values: dict[LabelValues, float] = {}
        self._collector: Collector | None = None
        self._lock = threading.Lock()
        if not self.label_names:
            self._values[()] = 0.0

    def _key(self, values: Iterable[object]) -> LabelValues:
        key = tuple(str(v) for v in values)
        if len(key) != len(self.label_names):
            raise MetricError(f"{self.name} takes labels {self.label_names!r}, got {key!r}")
        return key

    def _add(self, key: LabelValues, amount: float) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *label_values: object) -> float:
        """The current value for one label set (0 when never touched); collectors are not consulted."""
        return self._values.get(self._key(label_values), 0.0)

    def set_collector(self, collector: Collector | None) -> None:
        """Compute the samples at scrape time instead (``None`` goes back to stored values)."""
        self._collector = collector

    def samples(self) -> list[Sample]:
        """This family's samples, sorted by label values so consecutive scrapes line up."""
        if self._collector is not None:
            try:
                pairs = [(self._key(labels), float(value)) for labels, value in self._collector()]
            except Exception:  # noqa: BLE001 - a broken collector must not break the whole scrape
                pairs = []
        else:
            with self._lock:
                pairs = list(self._values.items())
        return [
            Sample(self.name, tuple(zip(self.label_names, labels, strict=True)), value)
            for labels, value in sorted(pairs)
        ]

    def render(self) -> str:
        lines = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for sample in self.samples():
            labels = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sample.labels)
            selector = f"{{{labels}}}" if labels else ""
            lines.append(f"{self.name}{selector} {format_value(sample.value)}")
        return "\n".join(lines) + "\n"


class Counter(_Family):
    """Only goes up (a restart resets it; Prometheus' ``rate`` copes). Names end in ``_total``."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, label_names: Iterable[str] = ()) -> None:
        if not name.endswith("_total"):
            raise MetricError(f"counter {name!r} must end in _total")
        super().__init__(name, help_text, label_names)

    def inc(self, amount: float = 1.0, *label_values: object) -> None:
        if amount < 0 or math.isnan(amount):
            raise MetricError(f"counter {self.name} cannot go down (inc by {amount!r})")
        self._add(self._key(label_values), amount)

    def labels(self, *label_values: object) -> _CounterChild:
        return _CounterChild(self, self._key(label_values))


class Gauge(_Family):
    """Goes up and down, or is computed at scrape time by a collector."""

    kind = "gauge"

    def set(self, value: float, *label_values: object) -> None:
        key = self._key(label_values)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, *label_values: object) -> None:
        self._add(self._key(label_values), amount)

    def dec(self, amount: float = 1.0, *label_values: object) -> None:
        self._add(self._key(label_values), -amount)

    def remove(self, *label_values: object) -> None:
        """Forget one label set (a cluster that left), so it stops being exported."""
        with self._lock:
            self._values.pop(self._key(label_values), None)

    def set_function(self, function: Callable[[], float]) -> None:
        """An unlabelled gauge read from ``function()`` at every scrape."""
        if self.label_names:
            raise MetricError(f"{self.name} has labels; use set_collector")
        self.set_collector(lambda: [((), function())])

    def labels(self, *label_values: object) -> _GaugeChild:
        return _GaugeChild(self, self._key(label_values))


@dataclass(frozen=True)
class _CounterChild:
    family: Counter
    key: LabelValues

    def inc(self, amount: float = 1.0) -> None:
        self.family.inc(amount, *self.key)


@dataclass(frozen=True)
class _GaugeChild:
    family: Gauge
    key: LabelValues

    def set(self, value: float) -> None:
        self.family.set(value, *self.key)

    def inc(self, amount: float = 1.0) -> None:
        self.family.inc(amount, *self.key)

    def dec(self, amount: float = 1.0) -> None:
        self.family.dec(amount, *self.key)


class Registry:
    """Metric families by name, rendered in registration order.

    ``counter``/``gauge`` return the existing family when asked again with the same type and labels, so
    modules of one process (or tests importing both daemons) can declare the same metric independently.
    """

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()

    def _get_or_add(self, family: _Family) -> _Family:
        with self._lock:
            existing = self._families.get(family.name)
            if existing is None:
                self._families[family.name] = family
                return family
        if type(existing) is not type(family) or existing.label_names != family.label_names:
            raise MetricError(
                f"{family.name} is already registered as a {existing.kind} with labels {existing.label_names!r}"
            )
        return existing

    def counter(self, name: str, help_text: str, label_names: Iterable[str] = ()) -> Counter:
        family = self._get_or_add(Counter(name, help_text, label_names))
        assert isinstance(family, Counter)
        return family

    def gauge(self, name: str, help_text: str, label_names: Iterable[str] = ()) -> Gauge:
        family = self._get_or_add(Gauge(name, help_text, label_names))
        assert isinstance(family, Gauge)
        return family

    def get(self, name: str) -> _Family | None:
        return self._families.get(name)

    def render(self) -> str:
        """The whole exposition, as ``/metrics`` serves it."""
        with self._lock:
            families = list(self._families.values())
        return "".join(family.render() for family in families)


REGISTRY = Registry()
"""The process-wide registry both daemons serve; tests make their own ``Registry()``."""


# -- reading the format back ---------------------------------------------------------------------------


@dataclass
class ParsedFamily:
    """One metric family as a scraper reads it."""

    name: str
    kind: str = "untyped"
    help: str = ""
    samples: list[Sample] = field(default_factory=list)

    def value(self, **labels: str) -> float | None:
        """The value of the sample whose labels include ``labels`` (exactly one must match), else None."""
        found = [s for s in self.samples if labels.items() <= s.label_dict.items()]
        if len(found) > 1:
            raise MetricError(f"{len(found)} samples of {self.name} match {labels!r}")
        return found[0].value if found else None


_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?$")
_LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def _unescape(text: str, *, quotes: bool) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            if following == "n":
                out.append("\n")
            elif following == "\\" or (quotes and following == '"'):
                out.append(following)
            else:
                out.append(char + following)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _parse_value(text: str, line: str) -> float:
    named = {"+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    if text in named:
        return named[text]
    try:
        return float(text)
    except ValueError:
        raise MetricError(f"bad value in {line!r}") from None


def _parse_labels(text: str, line: str) -> tuple[tuple[str, str], ...]:
    inner = text[1:-1]
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(inner.rstrip()):
        match = _LABEL_PAIR.match(inner, position)
        if match is None:
            raise MetricError(f"bad labels in {line!r}")
        pairs.append((match.group(1), _unescape(match.group(2), quotes=True)))
        position = match.end()
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise MetricError(f"repeated label in {line!r}")
    return tuple(pairs)


def _family_of(sample_name: str, families: Mapping[str, ParsedFamily]) -> str:
    """Histogram and summary samples belong to the family without their suffix."""
    for suffix in ("_bucket", "_count", "_sum"):
        base = sample_name[: -len(suffix)]
        if sample_name.endswith(suffix) and families.get(base, ParsedFamily(base)).kind in (
            "histogram",
            "summary",
        ):
            return base
    return sample_name


def parse(text: str) -> dict[str, ParsedFamily]:
    """Read a text exposition strictly: TYPE before a family's samples, no family split in two, no sample
    repeated, valid names, labels and values. Raises MetricError naming the offending line."""
    families: dict[str, ParsedFamily] = {}
    finished: set[str] = set()
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    current = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not _METRIC_NAME.match(name):
                    raise MetricError(f"bad metric name in {line!r}")
                family = families.setdefault(name, ParsedFamily(name))
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "HELP":
                    family.help = _unescape(rest, quotes=False)
                else:
                    if family.samples:
                        raise MetricError(f"TYPE after samples in {line!r}")
                    if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                        raise MetricError(f"unknown type in {line!r}")
                    family.kind = rest
            continue
        match = _SAMPLE_LINE.match(line)
        if match is None:
            raise MetricError(f"bad sample line {line!r}")
        sample_name, label_text, value_text = match.group(1), match.group(2), match.group(3)
        labels = _parse_labels(label_text, line) if label_text else ()
        name = _family_of(sample_name, families)
        if name != current:
            if name in finished:
                raise MetricError(f"samples of {name} are not together ({line!r})")
            if current:
                finished.add(current)
            current = name
        key = (sample_name, tuple(sorted(labels)))
        if key in seen:
            raise MetricError(f"repeated sample {line!r}")
        seen.add(key)
        family = families.setdefault(name, ParsedFamily(name))
        family.samples.append(Sample(sample_name, labels, _parse_value(value_text, line)))
    return families


# -- what both daemons export under the same names -----------------------------------------------------


@dataclass(frozen=True)
class DaemonMetrics:
    """The families hub-lite and agent-lite share, so an operator's queries work against either."""

    reconciles: Counter
    reconcile_errors: Counter
    heartbeat_age: Gauge
    tunnels: Gauge
    leader: Gauge
    build_info: Gauge


def daemon_metrics(registry: Registry = REGISTRY) -> DaemonMetrics:
    """Declare (or find) the shared families in ``registry``."""
    return DaemonMetrics(
        reconciles=registry.counter(
            "clusternet_reconcile_total",
            "Reconciliations run, by controller; failed ones are counted here and in "
            "clusternet_reconcile_errors_total.",
            ("controller",),
        ),
        reconcile_errors=registry.counter(
            "clusternet_reconcile_errors_total",
            "Reconciliations that failed and will be retried, by controller.",
            ("controller",),
        ),
        heartbeat_age=registry.gauge(
            "clusternet_cluster_heartbeat_age_seconds",
            "Seconds since the cluster's last status report (the hub: status.lastObservedTime of each "
            "ManagedCluster, exported by the leader; an agent: its own last successful report).",
            ("cluster_id", "cluster_name"),
        ),
        tunnels=registry.gauge(
            "clusternet_tunnels_connected",
            "Agent tunnels (websockets) connected now: on the hub, one per connected cluster; on an agent, 0 or 1.",
        ),
        leader=registry.gauge(
            "clusternet_leader_election_is_leader",
            "1 while this replica holds its leader-election Lease (or runs without election), else 0.",
        ),
        build_info=registry.gauge(
            "clusternet_build_info",
            "Always 1; the labels say which daemon and version.",
            ("daemon", "version"),
        ),
    )
