"""Certificates for the classic emulator's TLS mode: a throwaway CA, a server and client certificates.

Layer: edge (emulators). Used by ``reconciler.emulators.classic.server`` and by tests; needs the
``cryptography`` package (a dependency of ``azure-identity`` and of the ``test`` extra), imported
here only, so the emulator without ``--tls`` works without it.

Why a CA: Python's ``ssl`` verifies any client certificate the peer presents against the trust
store, so a self-signed management certificate would fail the handshake before the emulator could
answer the real service's 403. Trusting one emulator CA lets every certificate it issued through
the handshake; the emulator then compares the SHA-1 thumbprint with the subscription's list and
answers 403 ``ForbiddenError`` itself, as the real service does.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography is imported lazily at run time (only --tls needs it)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec


@dataclass(frozen=True)
class TLSFiles:
    """Where the emulator wrote its TLS material (all PEM unless said otherwise).

    ``ca_cert``: the CA to trust (``verify=``) for the server certificate and that signs client
    certificates. ``client_pem``: a client certificate plus key in one file (``requests`` ``cert=``),
    accepted by the emulator. ``client_thumbprint``: its SHA-1 thumbprint (upper-case hex).
    ``publishsettings``: a ``.publishsettings`` file carrying the same client certificate.
    """

    directory: str
    ca_cert: str
    ca_key: str
    server_cert: str
    server_key: str
    client_pem: str
    client_thumbprint: str
    publishsettings: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def thumbprint_of_der(der: bytes) -> str:
    """The SHA-1 thumbprint the classic portal shows for a certificate (upper-case hex)."""
    return hashlib.sha1(der).hexdigest().upper()


def thumbprint_of_pem(pem: bytes | str) -> str:
    """Thumbprint of the first certificate in a PEM blob (cert+key files accepted)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = pem.encode() if isinstance(pem, str) else pem
    cert = x509.load_pem_x509_certificate(data)
    return thumbprint_of_der(cert.public_bytes(serialization.Encoding.DER))


class CertificateAuthority:
    """A throwaway CA that issues the emulator's server certificate and management certificates."""

    def __init__(self, cn: str = "reconciler classic emulator CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        self.key = _key()
        now = _now()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(cn))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return _pem_cert(self.cert)

    @property
    def key_pem(self) -> bytes:
        return _pem_key(self.key)

    def issue(self, cn: str, *, server_hosts: tuple[str, ...] = ()) -> tuple[bytes, bytes, str]:
        """Issue a leaf certificate; returns (cert PEM, key PEM, SHA-1 thumbprint)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID

        key = _key()
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server_hosts:
            alt: list[x509.GeneralName] = []
            for h in server_hosts:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(h)))
                except ValueError:
                    alt.append(x509.DNSName(h))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        thumb = thumbprint_of_der(cert.public_bytes(serialization.Encoding.DER))
        return _pem_cert(cert), _pem_key(key), thumb


def pkcs12_base64(cert_pem: bytes, key_pem: bytes) -> str:
    """A password-less PKCS#12 of cert+key in base64, as ``ManagementCertificate`` holds it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # what _key() makes; PKCS#12 takes no DH/X25519 keys
        raise TypeError(f"expected an EC private key, got {type(key).__name__}")
    blob = pkcs12.serialize_key_and_certificates(b"management", key, cert, None, serialization.NoEncryption())
    return base64.b64encode(blob).decode("ascii")


def publishsettings_xml(subscription: str, url: str, cert_pem: bytes, key_pem: bytes) -> str:
    """A schema-2.0 ``.publishsettings`` document for one subscription."""
    from xml.sax.saxutils import quoteattr

    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<PublishData>\n'
        '  <PublishProfile SchemaVersion="2.0" PublishMethod="AzureServiceManagementAPI">\n'
        f"    <Subscription ServiceManagementUrl={quoteattr(url)} Id={quoteattr(subscription)}"
        f' Name="emulator" ManagementCertificate={quoteattr(pkcs12_base64(cert_pem, key_pem))} />\n'
        "  </PublishProfile>\n</PublishData>\n"
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> str:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)
    return str(path)


def write_tls_files(
    directory: str | os.PathLike[str], *, hosts: tuple[str, ...], subscription: str, url: str = ""
) -> tuple[TLSFiles, CertificateAuthority]:
    """Generate a CA, a server certificate for ``hosts`` and one client certificate into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority()
    server_cert, server_key, _ = ca.issue(hosts[0], server_hosts=hosts)
    client_cert, client_key, thumb = ca.issue("reconciler management certificate")
    files = TLSFiles(
        directory=str(d),
        ca_cert=_write(d / "ca.pem", ca.cert_pem),
        ca_key=_write(d / "ca.key", ca.key_pem, private=True),
        server_cert=_write(d / "server.pem", server_cert),
        server_key=_write(d / "server.key", server_key, private=True),
        client_pem=_write(d / "client.pem", client_cert + client_key, private=True),
        client_thumbprint=thumb,
        publishsettings=_write(
            d / "emulator.publishsettings",
            publishsettings_xml(subscription, url, client_cert, client_key).encode(),
            private=True,
        ),
    )
    return files, ca
