"""The local fleet's certificates: who signed what, which names and identities they carry, and that real
TLS stacks accept them the way kube-apiserver and its clients will."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubectl_clusternet.localfleet.pki import (
    ClusterPki,
    ClusterPkiFiles,
    build_cluster_pki,
    first_service_ip,
    write_cluster_pki,
)

SERVICE_CIDR = "127.78.1.0/24"


@pytest.fixture(scope="module")
def pki() -> ClusterPki:
    return build_cluster_pki("child-1", SERVICE_CIDR)


@pytest.fixture(scope="module")
def other_pki() -> ClusterPki:
    return build_cluster_pki("child-2", "127.78.2.0/24")


@pytest.fixture(scope="module")
def files(pki: ClusterPki, tmp_path_factory: pytest.TempPathFactory) -> ClusterPkiFiles:
    return write_cluster_pki(pki, tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize(
    ("leaf", "issuer"),
    [
        ("apiserver", "ca"),
        ("admin", "ca"),
        ("controller_manager", "ca"),
        ("front_proxy_client", "front_proxy_ca"),
    ],
)
def test_each_leaf_is_signed_by_its_own_ca(
    pki: ClusterPki, other_pki: ClusterPki, leaf: str, issuer: str
) -> None:
    """A leaf verifies against its cluster's CA and against neither the other CA nor another cluster's."""
    leaf_cert = getattr(pki, leaf).cert
    leaf_cert.verify_directly_issued_by(getattr(pki, issuer).cert)
    wrong_issuer = "front_proxy_ca" if issuer == "ca" else "ca"
    for stranger in (getattr(pki, wrong_issuer).cert, getattr(other_pki, issuer).cert):
        with pytest.raises((ValueError, InvalidSignature)):
            leaf_cert.verify_directly_issued_by(stranger)


def _names(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("dns", "localhost"),
        ("dns", "kubernetes"),
        ("dns", "kubernetes.default"),
        ("dns", "kubernetes.default.svc"),
        ("dns", "kubernetes.default.svc.cluster.local"),
        ("ip", "127.0.0.1"),
        ("ip", "127.78.1.1"),
    ],
)
def test_serving_cert_names_every_address_clients_use(pki: ClusterPki, kind: str, name: str) -> None:
    """The API server's certificate covers loopback, the in-cluster names and the `kubernetes` Service IP."""
    dns_names, ip_addresses = _names(pki.apiserver.cert)
    assert name in (dns_names if kind == "dns" else ip_addresses)


@pytest.mark.parametrize(
    ("leaf", "common_name", "organizations", "usage"),
    [
        ("admin", "kubernetes-admin", ["system:masters"], ExtendedKeyUsageOID.CLIENT_AUTH),
        ("controller_manager", "system:kube-controller-manager", [], ExtendedKeyUsageOID.CLIENT_AUTH),
        ("front_proxy_client", "front-proxy-client", [], ExtendedKeyUsageOID.CLIENT_AUTH),
        ("apiserver", "kube-apiserver", [], ExtendedKeyUsageOID.SERVER_AUTH),
    ],
)
def test_certificates_carry_the_identity_kubernetes_reads(
    pki: ClusterPki, leaf: str, common_name: str, organizations: list[str], usage: x509.ObjectIdentifier
) -> None:
    """Kubernetes takes the user from CN and groups from O; each cert is also usable for its purpose."""
    cert = getattr(pki, leaf).cert
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [common_name]
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == organizations
    assert usage in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [("127.77.0.0/24", "127.77.0.1"), ("127.78.12.0/24", "127.78.12.1"), ("10.96.0.0/12", "10.96.0.1")],
)
def test_first_service_ip_is_the_kubernetes_service_address(cidr: str, expected: str) -> None:
    """The first host address of the range is where kube-apiserver puts the `kubernetes` Service."""
    assert first_service_ip(cidr) == ipaddress.ip_address(expected)


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str) -> ssl.SSLObject:
    """Run a TLS handshake entirely in memory; returns the server side so the peer cert can be read."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for side, obj, out, peer_in in (("client", client, c_out, s_in), ("server", server, s_out, c_in)):
            if not done[side]:
                try:
                    obj.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            # TLS 1.3 sends the client's certificate verdict after the client finishes; pump once more.
            client.write(b"x")
            s_in.write(c_out.read())
            server.read(1)
            return server
    raise AssertionError("handshake did not finish")


def _contexts(
    files: ClusterPkiFiles, client_cert: Path, client_key: Path
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.apiserver_cert, files.apiserver_key)
    server_ctx.load_verify_locations(files.ca_cert)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=str(files.ca_cert))
    client_ctx.load_cert_chain(client_cert, client_key)
    return server_ctx, client_ctx


@pytest.mark.parametrize(
    "server_hostname", ["127.0.0.1", "localhost", "kubernetes.default.svc", "127.78.1.1"]
)
def test_tls_clients_trusting_the_ca_accept_the_api_server(
    files: ClusterPkiFiles, server_hostname: str
) -> None:
    """A verifying TLS client connects under every name the fleet hands out, presenting the admin cert."""
    server_ctx, client_ctx = _contexts(files, files.admin_cert, files.admin_key)
    server = _handshake(server_ctx, client_ctx, server_hostname)
    peer = server.getpeercert()
    assert peer is not None
    assert ((("commonName", "kubernetes-admin"),)) in peer["subject"]


@pytest.mark.parametrize("server_hostname", ["example.com", "127.0.0.2"])
def test_tls_clients_reject_names_the_cert_does_not_carry(
    files: ClusterPkiFiles, server_hostname: str
) -> None:
    """Hostname checking still works: an address outside the certificate is refused."""
    server_ctx, client_ctx = _contexts(files, files.admin_cert, files.admin_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server_ctx, client_ctx, server_hostname)


def test_front_proxy_client_is_not_trusted_as_a_normal_client(files: ClusterPkiFiles) -> None:
    """The aggregator's cert comes from a separate CA, so it cannot log in through --client-ca-file."""
    server_ctx, client_ctx = _contexts(files, files.front_proxy_client_cert, files.front_proxy_client_key)
    with pytest.raises(ssl.SSLError):
        _handshake(server_ctx, client_ctx, "127.0.0.1")


def test_service_account_keys_form_a_signing_pair(files: ClusterPkiFiles) -> None:
    """What kube-controller-manager and kube-apiserver sign with, the apiserver can verify."""
    private_key = load_pem_private_key(files.service_account_private_key.read_bytes(), password=None)
    public_key = load_pem_public_key(files.service_account_public_key.read_bytes())
    assert isinstance(private_key, rsa.RSAPrivateKey) and isinstance(public_key, rsa.RSAPublicKey)
    signature = private_key.sign(b"token", padding.PKCS1v15(), hashes.SHA256())
    public_key.verify(signature, b"token", padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, b"forged", padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(
    ("attribute", "mode"),
    [
        ("ca_key", 0o600),
        ("admin_key", 0o600),
        ("apiserver_key", 0o600),
        ("front_proxy_client_key", 0o600),
        ("service_account_private_key", 0o600),
        ("ca_cert", 0o644),
        ("service_account_public_key", 0o644),
    ],
)
def test_written_keys_are_private_to_their_owner(files: ClusterPkiFiles, attribute: str, mode: int) -> None:
    """Private keys land on disk readable by the owner only; certificates and public keys stay readable."""
    assert stat.S_IMODE(getattr(files, attribute).stat().st_mode) == mode
