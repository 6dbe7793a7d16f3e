"""Helm charts to many clusters (reference §2.6, §2.7, §7.6).

* ``semver`` and ``repo``: which chart version a HelmChart names (pure);
* ``fetch``: repository indexes and chart archives over HTTP(S) (aiohttp, no Helm SDK needed);
* ``releases``: HelmRelease bodies, upgrade decisions, status and phase mapping (pure);
* ``sdk``: the optional Helm SDK (``[helm]`` extra), imported only when a release is installed.
"""
