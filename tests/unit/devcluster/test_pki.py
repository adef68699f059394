"""The generated certificates say what the apiserver and its clients will check."""

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cheiron.pki import make_control_plane_pki

PKI = make_control_plane_pki()


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_leaves_are_signed_by_the_ca() -> None:
    ca = _cert(PKI.ca.cert_pem)
    for leaf in (PKI.serving, PKI.admin):
        cert = _cert(leaf.cert_pem)
        cert.verify_directly_issued_by(ca)


def test_serving_cert_covers_loopback_names() -> None:
    sans = _cert(PKI.serving.cert_pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "localhost" in sans.value.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in sans.value.get_values_for_type(x509.IPAddress)]
    assert "127.0.0.1" in ips


def test_admin_is_a_system_masters_client() -> None:
    cert = _cert(PKI.admin.cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert ExtendedKeyUsageOID.SERVER_AUTH not in usage


def test_keys_match_their_certificates() -> None:
    for pair in (PKI.ca, PKI.serving, PKI.admin):
        key = serialization.load_pem_private_key(pair.key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.public_key() == _cert(pair.cert_pem).public_key()


def test_service_account_key_pair_matches() -> None:
    key = serialization.load_pem_private_key(PKI.service_account_key_pem, password=None)
    pub = serialization.load_pem_public_key(PKI.service_account_pub_pem)
    assert key.public_key() == pub


def test_certificates_are_valid_now() -> None:
    now = datetime.datetime.now(datetime.UTC)
    for pair in (PKI.ca, PKI.serving, PKI.admin):
        cert = _cert(pair.cert_pem)
        assert cert.not_valid_before_utc < now < cert.not_valid_after_utc
