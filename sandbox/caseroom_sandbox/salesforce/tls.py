"""A throwaway certificate authority and a localhost certificate, so the emulator can speak real HTTPS.

simple-salesforce discards the scheme of ``instance_url`` and always builds ``https://`` URLs, so a plain-HTTP
emulator is unreachable from the real SDK. The CA lives only for this process; trust it with
``session.verify = ca_path`` or ``REQUESTS_CA_BUNDLE=<bundle_path>``.

Beware a requests quirk: when ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` is set in the environment it
overrides ``session.verify`` (the environment wins unless ``session.trust_env`` is False). ``bundle_path``
is the system trust store plus this CA, so pointing ``REQUESTS_CA_BUNDLE`` at it keeps real sites working.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import certifi
import trustme

HOSTS = ("127.0.0.1", "localhost", "::1")


class TlsFiles:
    """PEM files in a private temporary directory: ``ca_path``, ``bundle_path`` (system CAs + ours),
    ``cert_path`` (leaf + chain), ``key_path``."""

    def __init__(self, hosts: tuple[str, ...] = HOSTS) -> None:
        self.ca = trustme.CA(organization_name="CaseRoom Salesforce sandbox")
        self.leaf = self.ca.issue_cert(*hosts)
        self.directory = Path(tempfile.mkdtemp(prefix="caseroom-sf-tls-"))
        self.ca_path = str(self.directory / "ca.pem")
        self.cert_path = str(self.directory / "cert.pem")
        self.key_path = str(self.directory / "key.pem")
        self.ca.cert_pem.write_to_path(self.ca_path)
        self.leaf.private_key_pem.write_to_path(self.key_path)
        # The chain goes with the leaf so that clients holding only the CA can build the path.
        with open(self.cert_path, "wb") as out:
            for blob in self.leaf.cert_chain_pems:
                out.write(blob.bytes())
        self.bundle_path = str(self.directory / "bundle.pem")
        system = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or certifi.where()
        with open(self.bundle_path, "wb") as out:
            if os.path.isfile(system):
                out.write(Path(system).read_bytes().rstrip(b"\n") + b"\n")
            out.write(self.ca.cert_pem.bytes())

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
