"""Pure rendering: Subscription → scheduling → Base → Description, with overrides and replica dividing.

Every function takes and returns plain dicts shaped like the Kubernetes API's objects and does no I/O,
reads no clock and draws no random numbers, so the hub's controllers, the CLI's dry runs and the tests
all get identical results from identical inputs. Modules:

* ``overrides``: OverrideConfig types (JSONPatch, MergePatch, Helm, FieldJSONPatch, FieldMergePatch);
* ``selectors``: LabelSelectors and the Globalization-then-Localization override order;
* ``dividing`` and ``scheduling``: where a Subscription goes and how many replicas each cluster runs;
* ``descriptions``: Description and replica-Localization bodies, the ``raw`` wire format, pruning;
* ``batch``: ``render_all`` for many clusters at once;
* ``feeds``: the keys that tie feeds, objects and status entries together.
"""

from __future__ import annotations

from kubectl_clusternet.core.render.batch import ClusterRendering, is_helm_chart, raw_for_all, render_all
from kubectl_clusternet.core.render.descriptions import (
    controller_reference,
    decode_raw,
    description_labels,
    encode_raw,
    generic_description,
    helm_description,
    objects_to_prune,
    render_generic_description,
    render_helm_description,
    replica_localization,
)
from kubectl_clusternet.core.render.dividing import cluster_weights, divide_static
from kubectl_clusternet.core.render.errors import (
    DescriptionError,
    OverrideError,
    RenderError,
    SchedulingError,
    SelectorError,
)
from kubectl_clusternet.core.render.feeds import FeedRef, ObjectKey, feed_key, feed_ref, object_key
from kubectl_clusternet.core.render.overrides import (
    ChartRendering,
    CompiledOverride,
    apply_chart_overrides,
    apply_overrides,
    coalesce_values,
    compile_override,
    merge_patch,
    strip_server_fields,
)
from kubectl_clusternet.core.render.scheduling import (
    SchedulingResult,
    find_untolerated_taint,
    schedule,
    spec_hash,
    tolerates,
)
from kubectl_clusternet.core.render.selectors import LabelMatcher, collect_overrides, selector_matches

__all__ = [
    "ChartRendering",
    "ClusterRendering",
    "CompiledOverride",
    "DescriptionError",
    "FeedRef",
    "LabelMatcher",
    "ObjectKey",
    "OverrideError",
    "RenderError",
    "SchedulingError",
    "SchedulingResult",
    "SelectorError",
    "apply_chart_overrides",
    "apply_overrides",
    "cluster_weights",
    "coalesce_values",
    "collect_overrides",
    "compile_override",
    "controller_reference",
    "decode_raw",
    "description_labels",
    "divide_static",
    "encode_raw",
    "feed_key",
    "feed_ref",
    "find_untolerated_taint",
    "generic_description",
    "helm_description",
    "is_helm_chart",
    "merge_patch",
    "object_key",
    "objects_to_prune",
    "raw_for_all",
    "render_all",
    "render_generic_description",
    "render_helm_description",
    "replica_localization",
    "schedule",
    "selector_matches",
    "spec_hash",
    "strip_server_fields",
    "tolerates",
]
