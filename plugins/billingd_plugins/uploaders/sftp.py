"""The ``sftp`` uploader: an invoice's documents put on a customer's SFTP server
(asyncssh).

Settings:

``host`` (required), ``port`` (22), ``username`` (required)
    where to log in;
``private_key`` (a key file), ``passphrase``, ``password``
    how: a key, a password, or both; neither the SSH agent nor ``~/.ssh`` is used;
``host_key`` or ``known_hosts`` (one required)
    the server's pinned host key: a fingerprint (``SHA256:…`` as ``ssh-keygen -lf``
    prints it) or a public key line (``ssh-ed25519 AAAA…``), or an OpenSSH
    ``known_hosts`` file. A server showing any other key is refused for good
    (:class:`~billingd.plugins.PermanentFailure`): it is not the customer's server,
    or it was re-keyed and an operator must check and pin the new key;
``remote_dir`` (default ``.``, the login directory)
    where the files go;
``connect_timeout`` (30 s), ``timeout`` (120 s)
    for connecting and logging in, and for the whole transfer.

Atomic: each file is written as ``<name>.part`` and renamed to its name once
complete (with the ``posix-rename@openssh.com`` extension where the server has it,
so an older copy is replaced in one step). The names come from the invoice number
and format, so a retry replaces its own files.
"""

from __future__ import annotations

import asyncio
import posixpath
from typing import TYPE_CHECKING, Any

from billingd.plugins import PermanentFailure
from billingd_plugins.uploaders.base import BaseUploader, Settings, file_name

if TYPE_CHECKING:
    import asyncssh


def _pinned(settings: Settings) -> tuple[Any, type[asyncssh.SSHClient] | None]:
    """``(known_hosts, client class)`` for asyncssh from the pin settings."""
    import asyncssh  # imported when used: it takes a quarter second

    known_hosts = settings.str("known_hosts")
    host_key = settings.str("host_key")
    if known_hosts:
        return known_hosts, None
    if not host_key:
        raise PermanentFailure(
            "sftp uploader: no host key is pinned (setting 'host_key' with the server's "
            "SHA256 fingerprint or public key, or 'known_hosts'); refusing to trust an "
            "unknown server"
        )
    if host_key.startswith(("SHA256:", "MD5:")):
        fingerprint = host_key.strip()

        class PinnedClient(asyncssh.SSHClient):
            def validate_host_public_key(
                self, host: str, addr: str, port: int, key: asyncssh.SSHKey
            ) -> bool:
                algorithm = "md5" if fingerprint.startswith("MD5:") else "sha256"
                return key.get_fingerprint(algorithm) == fingerprint

        return ([], [], []), PinnedClient
    try:
        key = asyncssh.import_public_key(host_key)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise PermanentFailure(f"sftp uploader: setting 'host_key' is not a key: {exc}") from None
    return ([key], [], []), None


async def _rename_over(sftp: asyncssh.SFTPClient, source: str, target: str) -> None:
    import asyncssh

    try:
        await sftp.posix_rename(source, target)
    except asyncssh.SFTPOpUnsupported:
        if await sftp.exists(target):
            await sftp.remove(target)
        await sftp.rename(source, target)


class SftpUploader(BaseUploader):
    name = "sftp"
    settings_keys = (
        *("host", "port", "username", "private_key", "passphrase", "password", "host_key"),
        *("known_hosts", "remote_dir", "connect_timeout", "timeout"),
    )

    def upload(self, delivery: dict[str, Any]) -> dict[str, Any]:
        settings = self.settings(delivery)
        return asyncio.run(self._upload(settings, delivery))

    async def _upload(self, settings: Settings, delivery: dict[str, Any]) -> dict[str, Any]:
        import asyncssh

        host = settings.required("host")
        port = int(settings.number("port", 22))
        username = settings.required("username")
        known_hosts, client_class = _pinned(settings)
        private_key = settings.str("private_key")
        password = settings.str("password")
        if not private_key and not password:
            raise PermanentFailure(
                f"sftp uploader: neither 'private_key' nor 'password' is set for {username}@{host}"
            )
        connect_timeout = settings.number("connect_timeout", 30)
        timeout = settings.number("timeout", 120)
        remote_dir = settings.str("remote_dir", ".") or "."
        where = f"sftp://{username}@{host}:{port}/{remote_dir.lstrip('/')}"
        options: dict[str, Any] = {
            "port": port,
            "username": username,
            "known_hosts": known_hosts,
            "client_keys": [private_key] if private_key else [],
            "passphrase": settings.str("passphrase"),
            "password": password,
            "agent_path": None,
            "config": [],
            "connect_timeout": connect_timeout,
            "login_timeout": connect_timeout,
        }
        if client_class is not None:
            options["client_factory"] = client_class
        try:
            async with asyncssh.connect(host, **options) as connection:
                async with asyncio.timeout(timeout):
                    async with connection.start_sftp_client() as sftp:
                        names = []
                        for document in delivery["documents"]:
                            name = file_name(delivery, document)
                            target = posixpath.join(remote_dir, name)
                            partial = target + ".part"
                            async with sftp.open(partial, "wb") as remote:
                                await remote.write(document["data"])
                            await _rename_over(sftp, partial, target)
                            names.append(name)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise PermanentFailure(
                f"sftp uploader: {host}:{port} showed a host key that is not pinned "
                f"({exc.reason}); check the server and pin its key"
            ) from None
        except asyncssh.PermissionDenied as exc:
            raise PermanentFailure(
                f"sftp uploader: {username}@{host} was refused: {exc.reason}"
            ) from None
        except (asyncssh.SFTPPermissionDenied, asyncssh.SFTPNoSuchFile) as exc:
            raise PermanentFailure(f"sftp uploader: {where}: {exc.reason}") from None
        except TimeoutError:
            raise TimeoutError(f"sftp uploader: {where}: timed out") from None
        except (OSError, asyncssh.Error) as exc:
            raise ConnectionError(f"sftp uploader: {where}: {type(exc).__name__}: {exc}") from exc
        return {"url": where, "files": names}
