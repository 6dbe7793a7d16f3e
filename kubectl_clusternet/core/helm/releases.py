"""HelmReleases (reference §2.7, §7.6): how a Helm Description becomes HelmReleases, how a release in a
child is judged and reported. Pure functions over plain dicts, shared by the hub (which writes the
HelmReleases and the Description's phase) and the agents (which install, upgrade and uninstall).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubectl_clusternet.core.render.descriptions import (
    APP_FINALIZER,
    APPS_API_VERSION,
    CREATED_BY_CONTROLLER_MANAGER,
    LABEL_CLUSTER_ID,
    LABEL_CLUSTER_NAME,
    LABEL_CONFIG_KIND,
    LABEL_CONFIG_NAME,
    LABEL_CONFIG_NAMESPACE,
    LABEL_CONFIG_UID,
    LABEL_CREATED_BY,
    LABEL_SUBS_NAME,
    LABEL_SUBS_NAMESPACE,
    LABEL_SUBS_UID,
    controller_reference,
    decode_raw,
    encode_raw,
)
from kubectl_clusternet.core.render.errors import DescriptionError

__all__ = [
    "HELM_OPTION_FIELDS",
    "MAX_HISTORY",
    "helm_release_name",
    "helm_releases_for",
    "release_differs",
    "owner_description_key",
    "release_values",
    "DesiredRelease",
    "desired_release",
    "needs_upgrade",
    "release_status",
    "description_phase",
    "install_options",
    "upgrade_options",
    "uninstall_options",
]

#: HelmOptions copied from the rendered HelmChart into each HelmRelease (reference §2.6).
HELM_OPTION_FIELDS: Final = (
    "repo",
    "chartPullSecret",
    "plainHTTP",
    "chart",
    "version",
    "createNamespace",
    "timeoutSeconds",
    "wait",
    "waitForJob",
    "replace",
    "atomic",
    "upgradeAtomic",
    "skipCRDs",
    "replaceCRDs",
    "disableHooks",
    "force",
)
#: Release revisions kept in the child (upstream's value).
MAX_HISTORY: Final = 5
_DEFAULT_TIMEOUT: Final = 300


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def helm_release_name(description_name: str, chart_namespace: str, chart_name: str) -> str:
    """``<description>-<chart namespace>-<chart name>``: one HelmRelease per chart of a Description."""
    return f"{description_name}-{chart_namespace}-{chart_name}"


def owner_description_key(release: Mapping[str, Any]) -> str | None:
    """``namespace/name`` of the Description a HelmRelease was made for (its config.* labels)."""
    labels = _metadata(release).get("labels") or {}
    if labels.get(LABEL_CONFIG_KIND) != "Description" or not labels.get(LABEL_CONFIG_NAME):
        return None
    namespace = labels.get(LABEL_CONFIG_NAMESPACE) or _metadata(release).get("namespace") or ""
    return f"{namespace}/{labels[LABEL_CONFIG_NAME]}"


def helm_releases_for(description: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The HelmReleases a Helm Description asks for, in chart order.

    ``spec.charts`` names the HelmCharts, ``chartRaw`` holds them rendered for this cluster (an
    ``overrideChart`` patch may have changed the version, say) and ``raw`` their values. Raises
    ``DescriptionError`` when the three lists are not aligned (event ``UnequalLengths``).
    """
    metadata = _metadata(description)
    spec = description.get("spec") or {}
    refs = list(spec.get("charts") or [])
    charts = decode_raw(spec.get("chartRaw") or [])
    values = decode_raw(spec.get("raw") or [])
    if not len(refs) == len(charts) == len(values):
        raise DescriptionError(
            f"Description has {len(refs)} charts, {len(charts)} chartRaw and {len(values)} raw entries"
        )
    own_labels = metadata.get("labels") or {}
    name = str(metadata.get("name") or "")
    namespace = str(metadata.get("namespace") or "")
    releases = []
    for ref, chart, chart_values in zip(refs, charts, values, strict=True):
        chart_meta = _metadata(chart)
        chart_spec = chart.get("spec") or {}
        labels = {str(k): str(v) for k, v in (chart_meta.get("labels") or {}).items()}
        labels.update(
            {
                LABEL_CREATED_BY: CREATED_BY_CONTROLLER_MANAGER,
                LABEL_CONFIG_KIND: "Description",
                LABEL_CONFIG_NAME: name,
                LABEL_CONFIG_NAMESPACE: namespace,
                LABEL_CONFIG_UID: str(metadata.get("uid") or ""),
            }
        )
        for key in (
            LABEL_CLUSTER_ID,
            LABEL_CLUSTER_NAME,
            LABEL_SUBS_NAME,
            LABEL_SUBS_NAMESPACE,
            LABEL_SUBS_UID,
        ):
            if own_labels.get(key):
                labels[key] = str(own_labels[key])
        release_spec: dict[str, Any] = {
            key: chart_spec[key] for key in HELM_OPTION_FIELDS if chart_spec.get(key) is not None
        }
        release_spec["releaseName"] = str(ref.get("name") or "")
        release_spec["targetNamespace"] = str(chart_spec.get("targetNamespace") or "")
        release_spec["overrides"] = encode_raw([chart_values])[0]
        body_meta: dict[str, Any] = {
            "name": helm_release_name(name, str(ref.get("namespace") or ""), str(ref.get("name") or "")),
            "namespace": namespace,
            "labels": labels,
            "finalizers": [APP_FINALIZER],
            "ownerReferences": [controller_reference(description)],
        }
        if chart_meta.get("annotations"):
            body_meta["annotations"] = dict(chart_meta["annotations"])
        releases.append(
            {
                "apiVersion": APPS_API_VERSION,
                "kind": "HelmRelease",
                "metadata": body_meta,
                "spec": release_spec,
            }
        )
    return releases


def release_differs(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether the hub must patch a HelmRelease: spec, our labels and annotations, owner, finalizer."""
    have, want = _metadata(existing), _metadata(desired)
    labels = have.get("labels") or {}
    annotations = have.get("annotations") or {}
    return (
        existing.get("spec") != desired.get("spec")
        or any(labels.get(k) != v for k, v in (want.get("labels") or {}).items())
        or any(annotations.get(k) != v for k, v in (want.get("annotations") or {}).items())
        or have.get("ownerReferences") != want.get("ownerReferences")
        or APP_FINALIZER not in (have.get("finalizers") or [])
    )


def release_values(release: Mapping[str, Any]) -> dict[str, Any]:
    """The values a HelmRelease carries (``spec.overrides``: base64 of a JSON object)."""
    raw = (release.get("spec") or {}).get("overrides")
    if not raw:
        return {}
    try:
        decoded = json.loads(base64.b64decode(str(raw), validate=True) or b"{}")
    except (binascii.Error, ValueError) as exc:
        raise DescriptionError(f"spec.overrides is not base64-encoded JSON: {exc}") from exc
    if decoded is None:
        return {}
    if not isinstance(decoded, dict):
        raise DescriptionError("spec.overrides must hold a JSON object")
    return decoded


@dataclass(frozen=True)
class DesiredRelease:
    """What a HelmRelease asks the child to run."""

    name: str
    namespace: str
    chart: str
    version: str
    """The version requested (empty: the newest; a constraint: the newest allowed)."""
    values: Mapping[str, Any]


def desired_release(release: Mapping[str, Any]) -> DesiredRelease:
    spec = release.get("spec") or {}
    return DesiredRelease(
        name=str(spec.get("releaseName") or _metadata(release).get("name") or ""),
        namespace=str(spec.get("targetNamespace") or ""),
        chart=str(spec.get("chart") or ""),
        version=str(spec.get("version") or "").strip(),
        values=release_values(release),
    )


def _normal(values: Any) -> str:
    return json.dumps(values or {}, sort_keys=True)


def needs_upgrade(current: Mapping[str, Any], desired: DesiredRelease, resolved_version: str) -> str | None:
    """Why the deployed release (the SDK's ``get_all``) must be upgraded, or ``None`` when it is current.

    ``resolved_version`` is the version the repository offers for ``desired.version`` now (the same
    string when it is exact), so an empty version upgrades only when a newer chart is published, never on
    every pass.
    """
    summary = current.get("summary") or {}
    if str(summary.get("name") or desired.name) != desired.name:
        return f"release name {summary.get('name')} → {desired.name}"
    if str(summary.get("namespace") or desired.namespace) != desired.namespace:
        return f"namespace {summary.get('namespace')} → {desired.namespace}"
    if str(summary.get("chart_name") or "") != desired.chart:
        return f"chart {summary.get('chart_name')} → {desired.chart}"
    if resolved_version and str(summary.get("chart_version") or "") != resolved_version:
        return f"version {summary.get('chart_version')} → {resolved_version}"
    if _normal(current.get("config")) != _normal(desired.values):
        return "values changed"
    return None


def release_status(current: Mapping[str, Any]) -> dict[str, Any]:
    """HelmRelease ``status`` from the SDK's ``get_all`` of the release."""
    summary = current.get("summary") or {}
    info = current.get("info") or {}
    status: dict[str, Any] = {
        "phase": str(info.get("status") or summary.get("status") or "unknown"),
        "version": int(summary.get("revision") or 0),
    }
    for key, source in (
        ("firstDeployed", "first_deployed"),
        ("lastDeployed", "last_deployed"),
        ("description", "description"),
        ("notes", "notes"),
    ):
        value = info.get(source) or (summary.get(source) if source == "notes" else None)
        if value:
            status[key] = str(value)
    return status


# HelmRelease phase → Description phase; the reason is the notes for those marked True.
_PHASES: Final[dict[str, tuple[str, bool]]] = {
    "deployed": ("Success", False),
    "pending-install": ("Installing", False),
    "pending-upgrade": ("Upgrading", False),
    "uninstalling": ("Uninstalling", False),
    "superseded": ("Superseded", True),
    "failed": ("Failure", True),
}
# When a Description has several charts, the phase the user most needs to see wins.
_SEVERITY: Final = ("Failure", "Unknown", "Superseded", "Uninstalling", "Upgrading", "Installing", "Pending")


def description_phase(releases: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    """(phase, reason) of a Helm Description from its HelmReleases' statuses (reference §7.6).

    One release maps as upstream does; with several, the most serious phase is shown and the reasons of
    those in it are joined. A release without a status yet counts as Pending.
    """
    seen: list[tuple[str, str]] = []
    for release in releases:
        status = release.get("status") or {}
        helm_phase = str(status.get("phase") or "")
        if not helm_phase:
            seen.append(("Pending", ""))
            continue
        phase, with_reason = _PHASES.get(helm_phase, ("Unknown", True))
        notes = str(status.get("notes") or "").strip() if with_reason else ""
        name = str(_metadata(release).get("name") or "")
        seen.append((phase, f"{name}: {notes}" if notes and name else notes))
    if not seen:
        return "Pending", ""
    for phase in _SEVERITY:
        reasons = [reason for p, reason in seen if p == phase]
        if reasons:
            return phase, "; ".join(r for r in reasons if r)
    return "Success", ""


def _timeout(spec: Mapping[str, Any]) -> int:
    value = spec.get("timeoutSeconds")
    return _DEFAULT_TIMEOUT if value is None else int(value)


def _wait(spec: Mapping[str, Any]) -> str | None:
    # Helm 4's strategies: "watcher" waits for readiness (and Jobs), None keeps the SDK's default.
    return "watcher" if spec.get("wait") or spec.get("waitForJob") else None


def install_options(spec: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """Options for the SDK's install, from HelmOptions.

    Client-side apply (``server_side_apply: False``) as Helm 3 and upstream Clusternet do: children on
    older Kubernetes reject some objects under server-side apply.
    """
    options: dict[str, Any] = {
        "namespace": namespace,
        "timeout_seconds": _timeout(spec),
        "create_namespace": spec.get("createNamespace", True) is not False,
        "server_side_apply": False,
    }
    for key, option in (
        ("atomic", "rollback_on_failure"),
        ("replace", "replace"),
        ("skipCRDs", "skip_crds"),
        ("waitForJob", "wait_for_jobs"),
        ("disableHooks", "disable_hooks"),
    ):
        if spec.get(key):
            options[option] = True
    wait = _wait(spec)
    if wait:
        options["wait"] = wait
    return options


def upgrade_options(spec: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """Options for the SDK's upgrade (history capped at :data:`MAX_HISTORY`)."""
    options: dict[str, Any] = {
        "namespace": namespace,
        "timeout_seconds": _timeout(spec),
        "max_history": MAX_HISTORY,
        "server_side_apply": "false",
    }
    for key, option in (
        ("upgradeAtomic", "rollback_on_failure"),
        ("force", "force_replace"),
        ("skipCRDs", "skip_crds"),
        ("waitForJob", "wait_for_jobs"),
        ("disableHooks", "disable_hooks"),
    ):
        if spec.get(key):
            options[option] = True
    wait = _wait(spec)
    if wait:
        options["wait"] = wait
    return options


def uninstall_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"timeout_seconds": _timeout(spec), "ignore_not_found": True}
    wait = _wait(spec)
    if wait:
        options["wait"] = wait
    return options
