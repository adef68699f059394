"""Generates CA, serving and client certificates with cryptography (pure, no I/O)."""

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A day is ample for a test run and keeps leaked material short-lived.
_VALIDITY = datetime.timedelta(days=1)
# Clocks of child processes may trail ours slightly; never issue a cert "from the future".
_BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class ControlPlanePKI:
    """Everything the apiserver, controller manager and admin client need to trust each other."""

    ca: KeyPair
    serving: KeyPair
    admin: KeyPair
    service_account_key_pem: bytes
    service_account_pub_pem: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    validity: datetime.timedelta = _VALIDITY,
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + validity)
    )


def make_ca(
    common_name: str, validity: datetime.timedelta = _VALIDITY
) -> tuple[KeyPair, ec.EllipticCurvePrivateKey]:
    """A self-signed CA; the private key is returned for signing leaves."""
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        _builder(name, name, key.public_key(), validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)), key


def issue(
    ca: KeyPair,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
    validity: datetime.timedelta = _VALIDITY,
) -> KeyPair:
    """A leaf certificate signed by `ca` for a server, a client, or both."""
    key = _new_key()
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    issuer = x509.load_pem_x509_certificate(ca.cert_pem).subject
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = _builder(x509.Name(attributes), issuer, key.public_key(), validity).add_extension(
        x509.ExtendedKeyUsage(usages), critical=False
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def make_control_plane_pki() -> ControlPlanePKI:
    """One CA signs both the loopback serving cert and the `system:masters` admin client."""
    ca, ca_key = make_ca("cheiron-dev-cluster-ca")
    serving = issue(
        ca,
        ca_key,
        "kube-apiserver",
        dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        ip_addresses=("127.0.0.1", "10.0.0.1"),
        server=True,
    )
    admin = issue(ca, ca_key, "admin", organizations=("system:masters",), client=True)
    sa_key = _new_key()
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ControlPlanePKI(ca, serving, admin, _key_pem(sa_key), sa_pub)


def make_serving_pki(
    dns_names: tuple[str, ...], ip_addresses: tuple[str, ...], validity: datetime.timedelta
) -> tuple[KeyPair, KeyPair]:
    """A fresh CA and a serving certificate it signed, for a webhook endpoint."""
    ca, ca_key = make_ca("cheiron-webhook-ca", validity)
    serving = issue(
        ca,
        ca_key,
        dns_names[0] if dns_names else ip_addresses[0],
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        server=True,
        validity=validity,
    )
    return ca, serving
