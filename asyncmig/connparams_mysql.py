"""asyncmy's half of :mod:`asyncmig.connparams`: the MySQL-client URL parameters.

Providers hand out the MySQL client's ``ssl-mode=REQUIRED`` (Aiven, DigitalOcean),
PyMySQL's ``ssl_verify_identity=true`` (TiDB), Node's ``ssl={"rejectUnauthorized":true}``
and Prisma's ``sslaccept=strict`` (PlanetScale). asyncmy takes none of them, and
starts TLS whenever ``ssl`` is truthy without checking what it verifies, so every
spelling becomes one :class:`MySQLTLS` request with the MySQL
client's meaning of its mode.
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from typing import Any

from .connparams import (
    FALSE,
    TRUE,
    Deferred,
    as_bool,
    bad_value,
    coerce,
    conflict,
    unknown,
    unsupported,
)
from .errors import ConfigError
from .urls import MASK

ASYNCMY_ARGS = frozenset(
    "user password password_creator host database unix_socket sock port charset sql_mode "  # noqa: SIM905
    "read_default_file conv use_unicode client_flag cursor_cls init_command connect_timeout "
    "read_default_group autocommit local_infile max_allowed_packet auth_plugin_map "
    "read_timeout binary_prefix program_name server_public_key echo query_callback ssl "
    "stmt_cache_size db async_creator_fn".split()
)
#: Character sets asyncmy can encode (``asyncmy.charset.charset_by_name``; tests compare).
ASYNCMY_CHARSETS = (
    "armscii8", "ascii", "big5", "binary", "cp1250", "cp1251", "cp1256", "cp1257", "cp850",
    "cp852", "cp866", "cp932", "dec8", "eucjpms", "euckr", "gb18030", "gb2312", "gbk",
    "geostd8", "greek", "hebrew", "hp8", "keybcs2", "koi8r", "koi8u", "latin1", "latin2",
    "latin5", "latin7", "macce", "macroman", "sjis", "swe7", "tis620", "ujis", "utf8", "utf8mb4",
)  # fmt: skip
_MODES = {
    "disabled": "DISABLED", "disable": "DISABLED",
    "preferred": "PREFERRED", "prefer": "PREFERRED", "allow": "PREFERRED",
    "required": "REQUIRED", "require": "REQUIRED",
    "verify_ca": "VERIFY_CA",
    "verify_identity": "VERIFY_IDENTITY", "verify_full": "VERIFY_IDENTITY",
}  # fmt: skip
_MODE_KEYS = ("ssl_mode", "ssl-mode", "sslmode")
#: The keys of the ``ssl`` dict SQLAlchemy builds from ``ssl_ca``, ``ssl_cert``, ...
_MATERIAL = frozenset({"ca", "capath", "cert", "key", "cipher", "check_hostname"})
#: PyMySQL / mysqlclient arguments asyncmy has no counterpart for.
_REFUSED = {
    "compress": "",
    "write_timeout": "it has no write timeout",
    "bind_address": "",
    "named_pipe": "",
    "defer_connect": "",
    "collation": "",
}
_KNOWN = ASYNCMY_ARGS | set(_REFUSED) | set(_MODE_KEYS) | {
    "sslaccept", "ssl_disabled", "ssl_verify_cert", "ssl_verify_identity", "ssl_key_password",
    "ssl_ca", "ssl_capath", "ssl_cert", "ssl_key", "ssl_cipher", "ssl_check_hostname",
}  # fmt: skip


@dataclass(frozen=True)
class MySQLTLS(Deferred):
    """An SSL request for asyncmy, built into an ``ssl.SSLContext`` only when connecting."""

    mode: str  # REQUIRED, VERIFY_CA or VERIFY_IDENTITY
    ca: str | None = None
    capath: str | None = None
    cert: str | None = None
    key: str | None = None
    key_password: str | None = None
    cipher: str | None = None

    def build(self) -> ssl.SSLContext:
        verifies = self.mode != "REQUIRED"  # REQUIRED verifies nothing, so reads no CA
        files = {"ca": self.ca if verifies else None, "cert": self.cert, "key": self.key}
        for name, path in files.items():
            if path and not os.path.isfile(path):
                raise ConfigError(f"URL parameter ssl_{name}={path}: no such file")
        if verifies and self.capath and not os.path.isdir(self.capath):
            raise ConfigError(f"URL parameter ssl_capath={self.capath}: no such directory")
        if self.mode == "REQUIRED":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:  # no CA given: the system's trusted roots, as the mysql client does
            ctx = ssl.create_default_context(cafile=self.ca, capath=self.capath)
            ctx.check_hostname = self.mode == "VERIFY_IDENTITY"
        if self.cert:
            try:
                ctx.load_cert_chain(self.cert, keyfile=self.key, password=self.key_password)
            except ssl.SSLError:
                raise ConfigError(
                    f"URL parameter ssl_cert={self.cert}: cannot load it with its ssl_key "
                    "(a wrong key file or ssl_key_password?)"
                ) from None
        if self.cipher:
            try:
                ctx.set_ciphers(self.cipher)
            except ssl.SSLError:
                raise ConfigError(
                    f"URL parameter ssl_cipher={self.cipher}: no such cipher"
                ) from None
        return ctx

    def render(self) -> str:
        parts = [self.mode] + [
            f"{name}={MASK if name == 'key_password' else value}"
            for name in ("ca", "capath", "cert", "key", "key_password", "cipher")
            if (value := getattr(self, name))
        ]
        return f"SSLContext({', '.join(parts)})"


def _mode(key: str, value: Any) -> str:
    mode = _MODES.get(str(value).strip().lower().replace("-", "_"))
    if mode is None:
        choices = ("DISABLED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
        raise bad_value(key, value, "one of " + ", ".join(choices), choices)
    return mode


def _ssl_text(value: str, material: dict[str, Any]) -> str | None:
    """``ssl=true|false`` (asyncmy's True: encrypt, verify nothing) or a JSON object."""
    lowered = value.strip().lower()
    if lowered in TRUE or lowered in FALSE:
        return "REQUIRED" if as_bool("ssl", value) else "DISABLED"
    try:
        spec = json.loads(value)
    except ValueError:
        spec = None
    if not isinstance(spec, dict) or not set(spec) <= _MATERIAL | {"rejectUnauthorized"}:
        raise bad_value(
            "ssl", value, 'true, false or a JSON object such as {"rejectUnauthorized":true}'
        )
    reject = spec.pop("rejectUnauthorized", None)
    material.update(spec)
    if reject is None:
        return None
    return "VERIFY_IDENTITY" if reject else "REQUIRED"


def plan_asyncmy(params: dict[str, Any]) -> dict[str, Any]:
    """asyncmy's arguments for ``params``; ``ssl`` becomes a ``_MySQLTLS`` request."""
    driver = "asyncmy"
    out: dict[str, Any] = {}
    modes: list[tuple[str, str]] = []
    material: dict[str, Any] = {}
    verify = {"ssl_verify_cert": False, "ssl_verify_identity": False}
    for key, value in params.items():
        if key in _MODE_KEYS:
            modes.append((key, _mode(key, value)))
        elif key == "ssl" and isinstance(value, dict) and set(value) <= _MATERIAL:
            material.update(value)
        elif key == "ssl" and isinstance(value, str):
            mode = _ssl_text(value, material)
            if mode:
                modes.append((key, mode))
        elif key == "sslaccept":
            choices = ("strict", "accept_invalid_certs")
            if value not in choices:
                raise bad_value(key, value, "strict or accept_invalid_certs", choices)
            modes.append((key, "VERIFY_IDENTITY" if value == "strict" else "REQUIRED"))
        elif key == "ssl_disabled":
            if as_bool(key, str(value)):
                modes.append((key, "DISABLED"))
        elif key in verify:
            verify[key] = as_bool(key, str(value))
        elif key == "ssl_key_password":
            material["key_password"] = value
        elif key in ("ssl_ca", "ssl_capath", "ssl_cert", "ssl_key", "ssl_cipher"):
            material[key[4:]] = value  # given as connect_args, not folded by SQLAlchemy
        elif key == "ssl_check_hostname":
            material["check_hostname"] = as_bool(key, str(value))
        elif key in _REFUSED:
            fix = "use init_command=SET NAMES <charset> COLLATE <collation>" * (key == "collation")
            raise unsupported(key, driver, why=_REFUSED[key], fix=fix)
        elif key in ASYNCMY_ARGS:
            out[key] = value
        else:
            raise unknown(key, driver, frozenset(_KNOWN))
    if verify["ssl_verify_identity"]:
        modes.append(("ssl_verify_identity", "VERIFY_IDENTITY"))
    elif verify["ssl_verify_cert"]:
        modes.append(("ssl_verify_cert", "VERIFY_CA"))
    _plan_tls(out, modes, material)
    coerce(out, driver)
    _check_values(out)
    return out


def _plan_tls(out: dict[str, Any], modes: list[tuple[str, str]], material: dict[str, Any]) -> None:
    for key, mode in modes[1:]:
        if mode != modes[0][1]:
            raise conflict(modes[0][0], key)
    if "ssl" in out and (modes or material):  # an SSLContext or True from connect_args
        raise conflict("ssl", modes[0][0] if modes else "ssl_ca")
    has_ca = bool(material.get("ca") or material.get("capath"))
    check_hostname = material.pop("check_hostname", None)
    if modes:
        key, mode = modes[0]
        if mode == "PREFERRED":
            raise unsupported(
                key,
                "asyncmy",
                str(mode),
                "it cannot fall back to an unencrypted connection",
                fix="use ssl_mode=REQUIRED or DISABLED",
            )
        if mode == "VERIFY_IDENTITY" and check_hostname is False:
            raise conflict(key, "ssl_check_hostname")
    elif material:  # asyncmy's own reading of SQLAlchemy's ssl_* keys
        verifies = has_ca and check_hostname is not False
        mode = "VERIFY_IDENTITY" if verifies else "VERIFY_CA" if has_ca else "REQUIRED"
    else:
        return
    if mode != "DISABLED":
        out["ssl"] = MySQLTLS(mode=mode, **material)


def _check_values(out: dict[str, Any]) -> None:
    """What asyncmy would reject inside connect() with a bare ValueError or AttributeError."""
    charset = out.get("charset")
    if isinstance(charset, str) and charset and charset.lower() not in ASYNCMY_CHARSETS:
        raise bad_value(
            "charset", charset, "a character set asyncmy knows, such as utf8mb4", ASYNCMY_CHARSETS
        )
    timeout = out.get("connect_timeout")
    if isinstance(timeout, int) and not 0 < timeout <= 31536000:
        raise bad_value("connect_timeout", timeout, "1 to 31536000 seconds")
    read = out.get("read_timeout")
    if isinstance(read, int) and read <= 0:
        raise bad_value("read_timeout", read, "a positive number of seconds")
    if isinstance(out.get("port"), int) and not 0 < out["port"] < 65536:
        raise ConfigError(f"URL port {out['port']} is out of range")
