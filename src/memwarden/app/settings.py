"""The configuration file (``/etc/memwarden/config.yaml`` or ``--config``) and how it meets the
command-line flags.

Every key of the file holds what a flag holds; a flag given on the command line wins over the
file, the file over the built-in default. A bad value is a :class:`ConfigError` naming the file
and the key (``config.yaml: outputs[1]: ...``). ``memwarden config show`` prints the effective
configuration; SIGHUP re-reads the file (:mod:`memwarden.app.operations`).

No argument parsing here: the command line hands the flags the user gave as plain data (setting
name -> the flag's value, :class:`SettingsSource`), so that a reload can lay the same flags over
the re-read file.

Keys::

    format: tracee                  # --format: tracee, tracee-v1beta1, falco, table
    outputs: [stdout]               # --output (repeatable); an entry may be a mapping
                                    #   {output: SPEC, format: NAME, bearer_token: TOKEN}
                                    #   (bearer_token_env: VAR reads it from the environment;
                                    #   http(s) outputs only; applies to that spec from a flag too)
    rules: []                       # --rules (Falco rules files)
    allowlists: []                  # --allowlist (repeatable)
    signatures:
      enabled: []                   # --enable: only these (IDs or event names); empty = all
      disabled: []                  # --disable
      origins: {}                   # --origin NAME=ORIGIN, as a mapping NAME: ORIGIN
    metrics:
      addr: ""                      # --metrics-addr HOST:PORT ("" = off)
    stats: false                    # --stats
    file_mode: "0600"               # --file-mode: mode of the files memwarden creates (file:
                                    #   outputs, recordings), octal; an existing file keeps its own
    delivery:                       # network outputs (syslog, http)
      queue_size: 1000              # findings waiting per output before drops
      retries: 3                    # attempts after the first failure
      timeout: 5.0                  # seconds per attempt
      flush_timeout: 5.0            # seconds to flush at exit (SIGTERM, SIGINT, end of input)
    ui:                             # memwarden ui (the findings console); flags win
      listen: 127.0.0.1:8765        # --listen
      token: ""                     # --token-file / MEMWARDEN_UI_TOKEN; needed off loopback
      db: ""                        # --db (default /var/lib/memwarden/ui.sqlite as root)
      retention: 7d                 # --retention: findings older than this are removed
      max_db_mb: 256                # --max-db-mb: the oldest go first beyond this
    nats:                           # nats:// outputs, record and replay (docs/fleet.md)
      token: ""                     # or user/password, creds (a .creds file), nkey (a seed file)
      tls_ca: ""                    # tls_cert, tls_key: mutual TLS for nats+tls://
      stream: ""                    # default stream (else the subject's first token, capitals)
      retention: limits             # limits, interest, workqueue (streams created by us)
      max_age: 0                    # seconds kept (0: unlimited); duplicate_window: 120
      ack_wait: 30                  # consumers: seconds before an unacked message is redelivered
      batch: 64                     # consumers: messages per fetch (record: 4x events/message)
      buffer_dir: /var/lib/memwarden/nats   # on-disk buffer while the server is down
      buffer_max_mb: 64             # its bound; only what overflows it is dropped (counted)
    enforce:                        # --enforce NAME (repeatable; run/record): kill the process
      signatures: []                #   in the kernel when these signatures fire (or a list:
      mode: kill                    #   enforce: [NAME, ...]); audit = --dry-run-enforce
                                    #   (docs/enforcement.md)
    containers:                     # container metadata on live findings (docs/containers.md)
      enabled: true                 # ask the container runtime (run/record only, never replay)
      sockets: []                   # docker, podman; cri:PATH (containerd, CRI-O); [] =
                                    #   discover
      wait: 0.5                     # seconds a container's first finding waits for its lookup
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from memwarden.core.event import ORIGIN_SYNTAX, valid_origin
from memwarden.core.located_yaml import YamlLocationError
from memwarden.core.located_yaml import load as load_yaml
from memwarden.core.located_yaml import read_text as read_yaml_text
from memwarden.outputs.base import Delivery
from memwarden.outputs.created import DEFAULT_FILE_MODE, format_file_mode, parse_file_mode
from memwarden.outputs.formats import FORMAT_NAMES

DEFAULT_PATH = "/etc/memwarden/config.yaml"
#: environment variable naming a config file (the systemd unit and containers may set it)
ENV_PATH = "MEMWARDEN_CONFIG"

__all__ = ["ConfigError", "Delivery", "FLAG_OF", "Settings", "SettingsSource", "load_settings",
           "merge_flags", "parse_settings"]


class ConfigError(ValueError):
    """A configuration file cannot be read or holds a bad value; names file and key."""


@dataclass
class UiSettings:
    """The findings console (``memwarden ui``): config ``ui:``."""

    listen: str = ""
    token: str = ""
    db: str = ""
    retention: str = ""
    max_db_mb: float = 0


@dataclass
class ContainerSettings:
    """Container runtime metadata (config ``containers:``)."""

    enabled: bool = True
    sockets: list[str] = field(default_factory=list)
    wait: float = 0.5


@dataclass
class Settings:
    """The effective configuration (defaults, then the file, then the flags)."""

    format: str = "tracee"
    outputs: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    allowlists: list[str] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)
    metrics_addr: str = ""
    stats: bool = False
    enforce: list[str] = field(default_factory=list)
    enforce_mode: str = "kill"
    file_mode: int = DEFAULT_FILE_MODE
    delivery: Delivery = field(default_factory=Delivery)
    ui: UiSettings = field(default_factory=UiSettings)
    containers: ContainerSettings = field(default_factory=ContainerSettings)
    #: output spec -> bearer token an HTTP output sends (never printed by ``config show``)
    output_tokens: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # the file it came from, if any

    def as_yaml_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "outputs": [{"output": o, "bearer_token": "(set)"} if o in self.output_tokens
                        else o for o in self.outputs] or ["stdout"],
            "rules": list(self.rules),
            "allowlists": list(self.allowlists),
            "signatures": {"enabled": list(self.enabled), "disabled": list(self.disabled),
                           "origins": dict(self.origins)},
            "metrics": {"addr": self.metrics_addr},
            "stats": self.stats,
            "enforce": {"signatures": list(self.enforce), "mode": self.enforce_mode},
            "file_mode": format_file_mode(self.file_mode),
            "delivery": {"queue_size": self.delivery.queue_size,
                         "retries": self.delivery.retries, "timeout": self.delivery.timeout,
                         "flush_timeout": self.delivery.flush_timeout},
            "ui": {"listen": self.ui.listen, "token": "(set)" if self.ui.token else "",
                   "db": self.ui.db, "retention": self.ui.retention,
                   "max_db_mb": self.ui.max_db_mb},
            "nats": self.delivery.nats.as_dict(),
            "containers": {"enabled": self.containers.enabled,
                           "sockets": list(self.containers.sockets),
                           "wait": self.containers.wait},
        }

    def output_delivery(self) -> Delivery:
        """The delivery options the outputs are opened with (file_mode included)."""
        return dataclasses.replace(self.delivery, file_mode=self.file_mode)

    def to_yaml(self) -> str:
        head = f"# effective configuration (file: {self.source or 'none'})\n"
        return head + yaml.safe_dump(self.as_yaml_dict(), sort_keys=False)


# -- reading ----------------------------------------------------------------------------------

class _Reader:
    """Validates one mapping; every error names the file and the dotted key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {what}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}")
        return value

    def known(self, d: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for k in d:
            if k not in allowed:
                prefix = f"{key}." if key else ""
                raise self.fail(f"{prefix}{k}", f"unknown key (known: {', '.join(allowed)})")

    def string(self, value: Any, key: str, choices: tuple[str, ...] = ()) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_kind(value)}")
        if choices and value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def strings(self, value: Any, key: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of strings, got {_kind(value)}")
        return [self.string(v, f"{key}[{i}]") for i, v in enumerate(value)]

    def number(self, value: Any, key: str, *, integer: bool, minimum: float,
               maximum: float) -> Any:
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            raise self.fail(key, f"expected {'an integer' if integer else 'a number'}, "
                                 f"got {_kind(value)}")
        if not math.isfinite(value):  # .nan compares false with everything, .inf overflows
            raise self.fail(key, f"expected a finite number, got {value}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum:g}, got {value}")
        if value > maximum:
            raise self.fail(key, f"must be at most {maximum:g}, got {value}")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "nothing"}.get(
        type(value), type(value).__name__) + (f" ({value!r})" if isinstance(
            value, int | float | str) and not isinstance(value, bool) else "")


#: bounds of the delivery numbers: beyond them a value is a mistake (and .inf overflows C)
MAX_QUEUE = 10_000_000
MAX_RETRIES = 1000
MAX_SECONDS = 86_400.0

TOP_KEYS = ("format", "outputs", "rules", "allowlists", "signatures", "metrics", "stats",
            "file_mode", "delivery", "ui", "nats", "containers", "enforce")
ENFORCE_MODES = ("kill", "audit")


def parse_settings(data: Any, where: str) -> Settings:
    """Validate a decoded YAML document into :class:`Settings`."""
    from memwarden.app.metrics import MetricsAddressError, parse_addr
    from memwarden.outputs.base import OutputSpecError
    from memwarden.outputs.registry import parse_output

    r = _Reader(where)
    top = r.mapping(data, "(top level)")
    r.known(top, "", TOP_KEYS)
    s = Settings(source=where)
    if "format" in top:
        s.format = r.string(top["format"], "format", FORMAT_NAMES)
    outputs = top.get("outputs")
    if outputs is not None:
        if isinstance(outputs, str | dict):
            outputs = [outputs]
        if not isinstance(outputs, list):
            raise r.fail("outputs", f"expected a list, got {_kind(outputs)}")
        for i, item in enumerate(outputs):
            key = f"outputs[{i}]"
            if isinstance(item, dict):
                r.known(item, key, ("output", "format", "bearer_token", "bearer_token_env"))
                if "output" not in item:
                    raise r.fail(key, "a mapping needs 'output: SPEC'")
                spec = r.string(item["output"], f"{key}.output")
                if "format" in item:
                    spec = f"{r.string(item['format'], f'{key}.format', FORMAT_NAMES)}:{spec}"
                token = _bearer_token(r, item, key)
            else:
                spec = r.string(item, key)
                token = None
            try:
                parsed = parse_output(spec)
            except OutputSpecError as exc:
                raise r.fail(key, str(exc)) from None
            if token is not None:
                if parsed.kind != "http":
                    raise r.fail(key, f"a bearer token needs an http(s) output, not {spec!r}")
                s.output_tokens[spec] = token
            s.outputs.append(spec)
    s.rules = r.strings(top.get("rules"), "rules")
    s.allowlists = r.strings(top.get("allowlists"), "allowlists")
    sigs = r.mapping(top.get("signatures"), "signatures")
    r.known(sigs, "signatures", ("enabled", "disabled", "origins"))
    s.enabled = r.strings(sigs.get("enabled"), "signatures.enabled")
    s.disabled = r.strings(sigs.get("disabled"), "signatures.disabled")
    origins = r.mapping(sigs.get("origins"), "signatures.origins")
    for name, origin in origins.items():
        value = r.string(origin, f"signatures.origins.{name}")
        if not valid_origin(value):
            raise r.fail(f"signatures.origins.{name}", f"{value!r} is not one of {ORIGIN_SYNTAX}")
        s.origins[str(name)] = value
    enforce = top.get("enforce")
    if isinstance(enforce, list | str):
        s.enforce = r.strings(enforce, "enforce")
    elif enforce is not None:
        e = r.mapping(enforce, "enforce")
        r.known(e, "enforce", ("signatures", "mode"))
        s.enforce = r.strings(e.get("signatures"), "enforce.signatures")
        if "mode" in e:
            s.enforce_mode = r.string(e["mode"], "enforce.mode", ENFORCE_MODES)
    _check_signature_names(r, s)
    metrics = r.mapping(top.get("metrics"), "metrics")
    r.known(metrics, "metrics", ("addr",))
    if metrics.get("addr"):
        s.metrics_addr = r.string(metrics["addr"], "metrics.addr")
        try:
            parse_addr(s.metrics_addr)
        except MetricsAddressError as exc:
            raise r.fail("metrics.addr", str(exc)) from None
    if "stats" in top:
        s.stats = r.boolean(top["stats"], "stats")
    if "file_mode" in top:
        try:
            s.file_mode = parse_file_mode(top["file_mode"])
        except ValueError as exc:
            raise r.fail("file_mode", str(exc)) from None
    delivery = r.mapping(top.get("delivery"), "delivery")
    r.known(delivery, "delivery", ("queue_size", "retries", "timeout", "flush_timeout"))
    d = s.delivery
    if "queue_size" in delivery:
        d.queue_size = r.number(delivery["queue_size"], "delivery.queue_size", integer=True,
                                minimum=1, maximum=MAX_QUEUE)
    if "retries" in delivery:
        d.retries = r.number(delivery["retries"], "delivery.retries", integer=True, minimum=0,
                             maximum=MAX_RETRIES)
    if "timeout" in delivery:
        d.timeout = float(r.number(delivery["timeout"], "delivery.timeout", integer=False,
                                   minimum=0.001, maximum=MAX_SECONDS))
    if "flush_timeout" in delivery:
        d.flush_timeout = float(r.number(delivery["flush_timeout"], "delivery.flush_timeout",
                                         integer=False, minimum=0, maximum=MAX_SECONDS))
    ui = r.mapping(top.get("ui"), "ui")
    r.known(ui, "ui", ("listen", "token", "db", "retention", "max_db_mb"))
    for key in ("listen", "token", "db", "retention"):
        if ui.get(key) is not None:
            setattr(s.ui, key, r.string(ui[key], f"ui.{key}"))
    if "max_db_mb" in ui:
        s.ui.max_db_mb = float(r.number(ui["max_db_mb"], "ui.max_db_mb", integer=False,
                                        minimum=0.01, maximum=1_000_000))
    if top.get("nats") is not None:
        _parse_nats(r, top["nats"], d)
    containers = r.mapping(top.get("containers"), "containers")
    r.known(containers, "containers", ("enabled", "sockets", "wait"))
    if "enabled" in containers:
        s.containers.enabled = r.boolean(containers["enabled"], "containers.enabled")
    s.containers.sockets = r.strings(containers.get("sockets"), "containers.sockets")
    if "wait" in containers:
        s.containers.wait = float(r.number(containers["wait"], "containers.wait",
                                           integer=False, minimum=0, maximum=MAX_SECONDS))
    return s


def _bearer_token(r: _Reader, item: dict[str, Any], key: str) -> str | None:
    """An output mapping's ``bearer_token`` or ``bearer_token_env`` (the variable must be set)."""
    if "bearer_token" in item and "bearer_token_env" in item:
        raise r.fail(key, "give bearer_token or bearer_token_env, not both")
    if "bearer_token" in item:
        token = r.string(item["bearer_token"], f"{key}.bearer_token")
    elif "bearer_token_env" in item:
        var = r.string(item["bearer_token_env"], f"{key}.bearer_token_env")
        token = os.environ.get(var, "")
        if not token:
            raise r.fail(f"{key}.bearer_token_env", f"environment variable {var} is not set")
    else:
        return None
    if not token or any(c.isspace() for c in token):
        raise r.fail(key, "a bearer token must be non-empty and hold no spaces or line breaks")
    return token


def _parse_nats(r: _Reader, value: Any, d: Delivery) -> None:
    """The ``nats:`` section, kept with the delivery options (the outputs get it there)."""
    from memwarden.bus.address import NatsAddressError, NatsOptions

    try:
        d.nats = NatsOptions.from_mapping(r.mapping(value, "nats"))
    except NatsAddressError as exc:
        raise r.fail("nats", str(exc)) from None


def _check_signature_names(r: _Reader, s: Settings) -> None:
    from memwarden.signatures import UnknownSignatureError, find_signature

    for key, names in (("signatures.enabled", s.enabled), ("signatures.disabled", s.disabled),
                       ("signatures.origins", list(s.origins)), ("enforce", s.enforce)):
        for name in names:
            try:
                find_signature(name)
            except UnknownSignatureError as exc:
                raise r.fail(key, str(exc)) from None


def load_settings(path: str | os.PathLike[str] | None, *, required: bool = True) -> Settings:
    """Read and validate a config file; ``None`` means the default file if it exists (else
    built-in defaults). ``required``: a missing explicit file is an error."""
    if path is None:
        path = os.environ.get(ENV_PATH)  # named explicitly: must exist
        if not path:
            path = DEFAULT_PATH
            if not Path(path).exists():
                return Settings()
    where = str(path)
    try:
        text = read_yaml_text(path, where)
    except FileNotFoundError:
        if not required:
            return Settings()
        raise ConfigError(f"{where}: no such file") from None
    except YamlLocationError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = load_yaml(text, where)
    except YamlLocationError as exc:
        raise ConfigError(f"{exc.where}: not valid YAML: {exc.problem}") from None
    return parse_settings(data, where)


# -- meeting the flags ------------------------------------------------------------------------

#: setting -> (the flag that holds it, how the setting becomes that flag's value)
FLAG_OF: dict[str, tuple[str, Callable[[Settings], Any]]] = {
    "format": ("--format", lambda s: s.format),
    "outputs": ("--output", lambda s: tuple(s.outputs)),
    "rules": ("--rules", lambda s: tuple(s.rules)),
    "allowlists": ("--allowlist", lambda s: tuple(s.allowlists)),
    "enabled": ("--enable", lambda s: tuple(s.enabled)),
    "disabled": ("--disable", lambda s: tuple(s.disabled)),
    "origins": ("--origin", lambda s: tuple(f"{k}={v}" for k, v in s.origins.items())),
    "metrics_addr": ("--metrics-addr", lambda s: s.metrics_addr or None),
    "stats": ("--stats", lambda s: s.stats),
    "file_mode": ("--file-mode", lambda s: format_file_mode(s.file_mode)),
    "enforce": ("--enforce", lambda s: tuple(s.enforce)),
    "enforce_mode": ("--dry-run-enforce", lambda s: s.enforce_mode == "audit"),
}


def merge_flags(settings: Settings, given: Mapping[str, Any]) -> Settings:
    """The settings with the flags given on the command line (``given``: setting name ->
    the flag's value, as :data:`FLAG_OF` writes it) laid over them. Raises
    :class:`ConfigError` for an ``--origin`` value that is not ``NAME=ORIGIN``."""
    s = copy.deepcopy(settings)
    for name, value in given.items():
        if name == "origins":
            s.origins.update(parse_origin_flags(value))
        elif name == "file_mode":
            try:
                s.file_mode = parse_file_mode(value)
            except ValueError as exc:
                raise ConfigError(f"--file-mode: {exc}") from None
        elif name == "enforce_mode":
            if value:
                s.enforce_mode = "audit"
        elif name == "metrics_addr":
            s.metrics_addr = value or ""
            if s.metrics_addr:
                from memwarden.app.metrics import MetricsAddressError, parse_addr

                try:
                    parse_addr(s.metrics_addr)
                except MetricsAddressError as exc:
                    raise ConfigError(f"--metrics-addr: {exc}") from None
        elif isinstance(value, tuple | list):
            setattr(s, name, list(value))
        else:
            setattr(s, name, value)
    return s


def parse_origin_flags(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--origin NAME=ORIGIN`` values as a mapping; raises :class:`ConfigError`."""
    from memwarden.signatures import UnknownSignatureError, find_signature

    origins: dict[str, str] = {}
    for item in values:
        name, sep, origin = item.partition("=")
        if not sep or not valid_origin(origin):
            raise ConfigError(f"--origin {item!r}: expected NAME=ORIGIN, ORIGIN one of "
                              f"{ORIGIN_SYNTAX}")
        try:
            find_signature(name)
        except UnknownSignatureError as exc:
            raise ConfigError(f"--origin {item!r}: {exc}") from None
        origins[name] = origin
    return origins


#: the config file key of a setting, where it is not the setting's name
CONFIG_KEY = {"enabled": "signatures.enabled", "disabled": "signatures.disabled",
              "origins": "signatures.origins", "metrics_addr": "metrics.addr",
              "enforce_mode": "enforce.mode"}


@dataclass(frozen=True)
class SettingsSource:
    """Where a command's settings come from: the config file it names (None: ``$MEMWARDEN_CONFIG``
    or the default path) and the flags the user gave (setting name -> value, as
    :data:`FLAG_OF` writes it). ``supported``: the settings the command has a flag for; a file
    that sets another one is an error (naming the command). :meth:`load` reads it all again,
    which is what a reload does."""

    command: str
    config_path: str | None = None
    given: Mapping[str, Any] = field(default_factory=dict)
    supported: frozenset[str] = frozenset(FLAG_OF)

    def load(self) -> Settings:
        """The file's settings with the given flags over them; raises :class:`ConfigError`."""
        file_settings = load_settings(self.config_path)
        defaults = Settings()
        for name, (flag, value_of) in FLAG_OF.items():
            if name not in self.supported and value_of(file_settings) != value_of(defaults):
                raise ConfigError(f"{file_settings.source}: {CONFIG_KEY.get(name, name)}: not "
                                  f"supported by 'memwarden {self.command}' ({flag} is not one "
                                  f"of its options)")
        return merge_flags(file_settings, self.given)
