"""Which chart version a HelmChart names: semver constraints, index lookups, OCI tags, URLs, credentials."""

from __future__ import annotations

import base64

import pytest

from kubectl_clusternet.core.helm.fetch import RepoCredentials, credentials_from_secret
from kubectl_clusternet.core.helm.repo import (
    ChartNotFound,
    ChartVersion,
    RepoError,
    archive_url,
    find_chart_version,
    index_url,
    oci_reference,
    parse_index,
    pick_tag,
    same_origin,
)
from kubectl_clusternet.core.helm.semver import InvalidVersion, parse_constraint, parse_version

VERSIONS = ["0.1.0", "1.0.0", "1.2.3", "1.2.10", "2.0.0-rc.1", "2.0.0", "v3.1"]


@pytest.mark.parametrize(
    ("constraint", "allowed"),
    [
        ("", ["0.1.0", "1.0.0", "1.2.3", "1.2.10", "2.0.0", "v3.1"]),  # empty: every stable release
        ("*", ["0.1.0", "1.0.0", "1.2.3", "1.2.10", "2.0.0", "v3.1"]),
        ("1.2.3", ["1.2.3"]),
        ("=1.2.3", ["1.2.3"]),
        ("!=2.0.0", ["0.1.0", "1.0.0", "1.2.3", "1.2.10", "v3.1"]),
        ("~1.2", ["1.2.3", "1.2.10"]),
        ("~1.2.4", ["1.2.10"]),
        ("^1", ["1.0.0", "1.2.3", "1.2.10"]),
        ("^0.1", ["0.1.0"]),
        ("1.x", ["1.0.0", "1.2.3", "1.2.10"]),
        (">=1.0 <2.0", ["1.0.0", "1.2.3", "1.2.10"]),
        (">= 1.0, < 2.0", ["1.0.0", "1.2.3", "1.2.10"]),
        (">1.2.3", ["1.2.10", "2.0.0", "v3.1"]),
        ("<=1.x", ["0.1.0", "1.0.0", "1.2.3", "1.2.10"]),
        ("1.0 - 1.2.5", ["1.0.0", "1.2.3"]),
        ("^3 || 0.1.0", ["0.1.0", "v3.1"]),
        ("2.0.0-rc.1", ["2.0.0-rc.1"]),  # a pre-release only when the constraint names one
        (">=2.0.0-0", ["2.0.0-rc.1", "2.0.0", "v3.1"]),
        ("9.9.9", []),
    ],
)
def test_constraints_select_versions_as_helm_does(constraint: str, allowed: list[str]) -> None:
    checked = parse_constraint(constraint)
    assert [v for v in VERSIONS if checked.allows(parse_version(v))] == allowed


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.2.3", "1.2.10"),
        ("2.0.0-rc.1", "2.0.0"),
        ("2.0.0-alpha", "2.0.0-beta"),
        ("1.0.0-2", "1.0.0-10"),
        ("1.0.0-9", "1.0.0-a"),
        ("v1", "1.0.1"),
    ],
)
def test_versions_order_by_semver_precedence(older: str, newer: str) -> None:
    assert parse_version(older) < parse_version(newer)


@pytest.mark.parametrize("text", ["", "latest", "1.2.3.4", "1..2"])
def test_nonsense_versions_are_rejected(text: str) -> None:
    with pytest.raises(InvalidVersion):
        parse_version(text)


@pytest.mark.parametrize("text", [">>1", "~latest", "1.2.3.4", "1.0 -"])
def test_nonsense_constraints_are_rejected(text: str) -> None:
    with pytest.raises(InvalidVersion):
        parse_constraint(text)


INDEX = parse_index(
    """
apiVersion: v1
entries:
  hello:
    - name: hello
      version: 0.1.0
      urls: [hello-0.1.0.tgz]
      digest: abc
    - name: hello
      version: 0.3.0-beta.1
      urls: [charts/hello-0.3.0-beta.1.tgz]
    - name: hello
      version: 0.2.0
      urls: [https://cdn.example.com/hello-0.2.0.tgz]
  weird:
    - name: weird
      version: not-semver
      urls: [weird.tgz]
"""
)


@pytest.mark.parametrize(
    ("chart", "version", "picked"),
    [
        ("hello", "", "0.2.0"),  # newest stable, not the beta and not the first listed
        ("hello", "0.1.0", "0.1.0"),
        ("hello", "~0.1", "0.1.0"),
        ("hello", ">=0.3.0-0", "0.3.0-beta.1"),
        ("weird", "not-semver", "not-semver"),  # an exact string matches even when it is not semver
    ],
)
def test_index_lookup_picks_the_version_helm_would(chart: str, version: str, picked: str) -> None:
    assert find_chart_version(INDEX, chart, version).version == picked


@pytest.mark.parametrize(
    ("chart", "version", "message"),
    [
        ("nope", "", "no chart named 'nope' in repository http://repo"),
        ("hello", "9.9.9", "no version of chart 'hello' version '9.9.9' in repository http://repo"),
        ("weird", "", "no version of chart 'weird' in repository http://repo"),
    ],
)
def test_index_lookup_says_what_is_missing(chart: str, version: str, message: str) -> None:
    with pytest.raises(ChartNotFound) as caught:
        find_chart_version(INDEX, chart, version, "http://repo")
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "error"),
    [("entries: [1, 2]", "not a Helm repository index"), ("{{", "not valid YAML"), ("[]", "not a Helm")],
)
def test_an_index_that_is_not_one_is_a_repo_error(text: str, error: str) -> None:
    with pytest.raises(RepoError, match=error):
        parse_index(text)


@pytest.mark.parametrize(
    ("repo", "url", "expected"),
    [
        ("http://127.0.0.1:8080/charts", "hello-0.1.0.tgz", "http://127.0.0.1:8080/charts/hello-0.1.0.tgz"),
        ("http://127.0.0.1:8080/charts/", "sub/hello.tgz", "http://127.0.0.1:8080/charts/sub/hello.tgz"),
        ("https://r.example", "https://cdn.example/x.tgz", "https://cdn.example/x.tgz"),
    ],
)
def test_archive_urls_are_relative_to_the_repository(repo: str, url: str, expected: str) -> None:
    assert archive_url(repo, ChartVersion("hello", "0.1.0", (url,))) == expected


def test_index_url_and_credential_scope() -> None:
    assert index_url("http://127.0.0.1:1/charts/") == "http://127.0.0.1:1/charts/index.yaml"
    assert same_origin("http://127.0.0.1:1/charts", "http://127.0.0.1:1/x.tgz")
    assert not same_origin("http://127.0.0.1:1/charts", "http://127.0.0.2:1/x.tgz")
    assert not same_origin("https://r.example", "http://r.example/x.tgz")


@pytest.mark.parametrize(
    ("tags", "version", "picked"),
    [
        (["0.1.0", "0.2.0", "1.0.0-rc1"], "", "0.2.0"),
        (["0.1.0", "0.2.0"], "0.1.0", "0.1.0"),
        (["1.0.0_build.5", "0.9.0"], "", "1.0.0+build.5"),
    ],
)
def test_oci_tags(tags: list[str], version: str, picked: str) -> None:
    assert pick_tag(tags, "hello", version) == picked


def test_oci_tags_missing() -> None:
    with pytest.raises(ChartNotFound, match="no version of chart 'hello' version '2.0.0'"):
        pick_tag(["0.1.0"], "hello", "2.0.0")
    assert oci_reference("oci://127.0.0.1:5000/charts/", "hello") == "oci://127.0.0.1:5000/charts/hello"
    assert oci_reference("oci://127.0.0.1:5000/charts/hello", "hello") == "oci://127.0.0.1:5000/charts/hello"


def test_pull_secret_credentials() -> None:
    encoded = {
        "data": {"username": base64.b64encode(b"ann").decode(), "password": base64.b64encode(b"s3").decode()}
    }
    assert credentials_from_secret(encoded) == RepoCredentials("ann", "s3")
    assert credentials_from_secret({"stringData": {"username": "bo"}}) == RepoCredentials("bo", "")
    assert "s3" not in repr(credentials_from_secret(encoded))
    with pytest.raises(RepoError):
        credentials_from_secret({"data": {"username": "***"}})
