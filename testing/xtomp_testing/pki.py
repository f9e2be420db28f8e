"""A throwaway certificate authority for TLS tests: CA, server and client certificates as PEM files.

Made at run time with the ``cryptography`` package (a test dependency, imported only here),
so no key or certificate is ever committed::

    pki = TestPKI(tmp_path)
    pki.server            # Pem(certificate=..., key=...) for 127.0.0.1 and localhost
    pki.client("alice")   # a client certificate whose subject CN is "alice"
    pki.ca                # the CA certificate file, for tls_client_ca and for clients
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Pem", "TestPKI"]


@dataclass(frozen=True)
class Pem:
    certificate: Path
    key: Path


class TestPKI:
    """A CA (EC P-256 keys, valid for a day) that issues server and client certificates into ``directory``."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "xtomp test CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self._name = subject
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        slug = name.replace(" ", "-")
        self.ca = directory / f"{slug}.pem"
        self.ca.write_bytes(self._pem(self._certificate))
        self.server = self.issue("localhost", server=True, file_name=f"{slug}-server")

    @staticmethod
    def _pem(certificate: Any) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(certificate.public_bytes(serialization.Encoding.PEM))

    def client(self, common_name: str, email: str | None = None) -> Pem:
        return self.issue(common_name, server=False, email=email)

    def issue(self, common_name: str, *, server: bool, email: str | None = None, file_name: str | None = None) -> Pem:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if email:
            attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        certificate = builder.sign(self._key, hashes.SHA256())
        stem = self.directory / (file_name or f"client-{common_name}")
        certificate_path = Path(f"{stem}.crt")
        key_path = Path(f"{stem}.key")
        certificate_path.write_bytes(self._pem(certificate) + self._pem(self._certificate))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return Pem(certificate_path, key_path)
