"""Certificates and keys for one local control plane, shaped like a kubeadm cluster's.

Every cluster gets its own CAs so a credential of one cluster is worthless against another, which is
what the tests of cross-cluster proxying need to prove anything.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertKeyPair",
    "ClusterPki",
    "ClusterPkiFiles",
    "build_cluster_pki",
    "first_service_ip",
    "issue_cert",
    "new_ca",
    "new_service_account_keys",
    "write_cluster_pki",
    "ADMIN_USER",
    "ADMIN_GROUP",
    "CONTROLLER_MANAGER_USER",
    "FRONT_PROXY_CLIENT_USER",
]

ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
FRONT_PROXY_CLIENT_USER = "front-proxy-client"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Backdate validity a little so a clock that is a few seconds behind does not reject fresh certificates.
_CLOCK_SKEW = datetime.timedelta(minutes=5)
_CA_LIFETIME = datetime.timedelta(days=3650)
_LEAF_LIFETIME = datetime.timedelta(days=365)


@dataclass(frozen=True)
class CertKeyPair:
    """A certificate with its private key, both also kept as PEM for writing files and kubeconfigs."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str, organizations: Iterable[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def new_ca(common_name: str) -> CertKeyPair:
    """Create a self-signed CA; EC P-256 keeps generation instant even for many clusters."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertKeyPair(cert=cert, key=key)


def issue_cert(
    ca: CertKeyPair,
    common_name: str,
    *,
    organizations: Iterable[str] = (),
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[IpAddress] = (),
    server: bool = False,
    client: bool = False,
) -> CertKeyPair:
    """Issue a leaf certificate; Kubernetes reads the user from CN and the groups from O."""
    if not (server or client):
        raise ValueError("a certificate must be usable for server or client authentication")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    ca_key_id = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _LEAF_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id), critical=False
        )
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alt_names.extend(x509.IPAddress(ip) for ip in ip_addresses)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return CertKeyPair(cert=builder.sign(ca.key, hashes.SHA256()), key=key)


def new_service_account_keys() -> tuple[bytes, bytes]:
    """Return (private PEM, public PEM) for signing ServiceAccount tokens.

    RSA rather than EC because RS256 is what every JWT consumer accepts, and kubeadm does the same.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def first_service_ip(service_cidr: str) -> IpAddress:
    """The address kube-apiserver gives the `kubernetes` Service, so the serving cert must name it."""
    network = ipaddress.ip_network(service_cidr, strict=True)
    return network.network_address + 1


@dataclass(frozen=True)
class ClusterPki:
    """All credentials one cluster's control plane needs."""

    ca: CertKeyPair
    apiserver: CertKeyPair
    admin: CertKeyPair
    controller_manager: CertKeyPair
    front_proxy_ca: CertKeyPair
    front_proxy_client: CertKeyPair
    service_account_private_pem: bytes
    service_account_public_pem: bytes


def build_cluster_pki(cluster_name: str, service_cidr: str) -> ClusterPki:
    """Generate a cluster's CAs and certificates; nothing is shared between clusters."""
    ca = new_ca(f"{cluster_name}-ca")
    front_proxy_ca = new_ca(f"{cluster_name}-front-proxy-ca")
    apiserver = issue_cert(
        ca,
        "kube-apiserver",
        dns_names=[
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        ip_addresses=[
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::1"),
            first_service_ip(service_cidr),
        ],
        server=True,
    )
    admin = issue_cert(ca, ADMIN_USER, organizations=[ADMIN_GROUP], client=True)
    controller_manager = issue_cert(ca, CONTROLLER_MANAGER_USER, client=True)
    front_proxy_client = issue_cert(front_proxy_ca, FRONT_PROXY_CLIENT_USER, client=True)
    sa_private, sa_public = new_service_account_keys()
    return ClusterPki(
        ca=ca,
        apiserver=apiserver,
        admin=admin,
        controller_manager=controller_manager,
        front_proxy_ca=front_proxy_ca,
        front_proxy_client=front_proxy_client,
        service_account_private_pem=sa_private,
        service_account_public_pem=sa_public,
    )


@dataclass(frozen=True)
class ClusterPkiFiles:
    """Where a cluster's credentials live on disk, as the control plane flags want them."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def controller_manager_cert(self) -> Path:
        return self.directory / "controller-manager.crt"

    @property
    def controller_manager_key(self) -> Path:
        return self.directory / "controller-manager.key"

    @property
    def front_proxy_ca_cert(self) -> Path:
        return self.directory / "front-proxy-ca.crt"

    @property
    def front_proxy_ca_key(self) -> Path:
        return self.directory / "front-proxy-ca.key"

    @property
    def front_proxy_client_cert(self) -> Path:
        return self.directory / "front-proxy-client.crt"

    @property
    def front_proxy_client_key(self) -> Path:
        return self.directory / "front-proxy-client.key"

    @property
    def service_account_private_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.directory / "sa.pub"


def _write(path: Path, data: bytes, *, secret: bool) -> None:
    # Create private files with their final mode so a key is never world-readable, not even briefly.
    mode = 0o600 if secret else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def write_cluster_pki(pki: ClusterPki, directory: Path) -> ClusterPkiFiles:
    """Write every certificate and key of a cluster into `directory` (keys readable by the owner only)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = ClusterPkiFiles(directory)
    pairs = [
        (pki.ca, files.ca_cert, files.ca_key),
        (pki.apiserver, files.apiserver_cert, files.apiserver_key),
        (pki.admin, files.admin_cert, files.admin_key),
        (pki.controller_manager, files.controller_manager_cert, files.controller_manager_key),
        (pki.front_proxy_ca, files.front_proxy_ca_cert, files.front_proxy_ca_key),
        (pki.front_proxy_client, files.front_proxy_client_cert, files.front_proxy_client_key),
    ]
    for pair, cert_path, key_path in pairs:
        _write(cert_path, pair.cert_pem, secret=False)
        _write(key_path, pair.key_pem, secret=True)
    _write(files.service_account_private_key, pki.service_account_private_pem, secret=True)
    _write(files.service_account_public_key, pki.service_account_public_pem, secret=False)
    return files
