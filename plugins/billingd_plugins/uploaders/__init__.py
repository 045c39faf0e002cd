"""The built-in portal uploaders (R-DEL-4, seed 004): ``dropfolder``, ``sftp`` and
``cxml``, chosen per bill group (``billgroup update ID --uploader sftp``).

Each uploader reads its settings from three places, later ones winning:

1. the plugin's settings, one mapping per uploader::

       plugins:
         settings:
           uploaders:
             dropfolder: {path: /srv/portal-out}
             sftp: {host: sftp.example.com, username: billing, remote_dir: /incoming,
                    private_key: /etc/billingd/id_ed25519, host_key: "SHA256:..."}
             cxml: {url: https://portal.example.com/cxml, ca_file: /etc/ssl/portal-ca.pem}

2. the bill group's custom fields whose name starts with the uploader's name and an
   underscore (``cxml_from_identity``, ``sftp_remote_dir``, ``dropfolder_path``), the
   prefix removed — so a customer's portal identities live with the customer (seed 004);
3. the bill group's ``uploader_settings``.

Every uploader also receives all custom fields unchanged (the cXML one puts the
un-prefixed ones into ``Extrinsic`` elements).
"""

from __future__ import annotations

from typing import Any

from billingd.hookspecs import hookimpl
from billingd_plugins.uploaders.base import merged_settings
from billingd_plugins.uploaders.cxml import CxmlUploader
from billingd_plugins.uploaders.dropfolder import DropFolderUploader
from billingd_plugins.uploaders.sftp import SftpUploader

__all__ = ["UPLOADERS", "CxmlUploader", "DropFolderUploader", "SftpUploader", "merged_settings"]


class _Uploaders:
    def __init__(self) -> None:
        self.all = (DropFolderUploader(), SftpUploader(), CxmlUploader())

    def configure(self, settings: dict[str, Any]) -> None:
        """Set each uploader's plugin settings; raises ValueError naming every unknown
        setting, and then changes nothing."""
        problems = []
        for uploader in self.all:
            own = settings.get(uploader.name) or {}
            prefix = f"plugins.settings.uploaders.{uploader.name}"
            if not isinstance(own, dict):
                problems.append(f"{prefix}: expected a mapping, got {own!r}")
                continue
            for key in sorted(set(own) - set(uploader.settings_keys)):
                known = ", ".join(uploader.settings_keys)
                problems.append(f"{prefix}.{key}: unknown setting (known: {known})")
        if problems:
            raise ValueError("; ".join(problems))
        for uploader in self.all:
            uploader.plugin_settings = dict(settings.get(uploader.name) or {})


UPLOADERS = _Uploaders()


@hookimpl
def plugin_settings_schema() -> dict[str, str]:
    return {uploader.name: "dict" for uploader in UPLOADERS.all}


@hookimpl
def startup(host) -> None:  # type: ignore[no-untyped-def]
    UPLOADERS.configure(host.settings_for("uploaders"))


@hookimpl
def register_uploaders(register) -> None:  # type: ignore[no-untyped-def]
    for uploader in UPLOADERS.all:
        register(uploader)
