"""The plugin host (SPEC §11): loads plugins and calls their hooks safely.

Plugins are found through the ``billingd`` entry-point group; the built-in plugins
(:data:`BUILTIN_PLUGINS`) are registered last from their module names, so they also
work from a source checkout. Two environment variables help operators:

``BILLINGD_PLUGINS``
    comma-separated allowlist of entry-point names to load (empty: none). Built-in
    plugins are always loaded.
``BILLINGD_TRACE_PLUGINS=1``
    log every hook call to the ``billingd.plugins`` logger.

A plugin's exception never escapes an event or a start-up hook: the host calls such
hooks plugin by plugin, logs the failure with the plugin's name and goes on. (Hook
wrappers are therefore not applied to the hooks the host calls.)
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import pluggy

import billingd
from billingd import hookspecs
from billingd.errors import BillingError, NotFound, ValidationError
from billingd.money import D, MoneyError
from billingd.rendering import Renderer

logger = logging.getLogger("billingd.plugins")

ENTRY_POINT_GROUP = "billingd"
BUILTIN_PLUGINS = ("billingd_plugins.pdf", "billingd_plugins.manual", "billingd_plugins.sandbox")
ALLOWLIST_ENV = "BILLINGD_PLUGINS"
TRACE_ENV = "BILLINGD_TRACE_PLUGINS"


def _is_decimal(value: Any) -> bool:
    try:
        D(value)
    except MoneyError:
        return False
    return True


# The type names a plugin may use in plugin_settings_schema().
SETTING_TYPES: dict[str, Callable[[Any], bool]] = {
    "str": lambda value: isinstance(value, str),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "bool": lambda value: isinstance(value, bool),
    "decimal": _is_decimal,
    "list": lambda value: isinstance(value, list),
    "dict": lambda value: isinstance(value, dict),
}
# register_* hook -> (what it registers, the methods each object must have).
_REGISTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "register_renderers": ("renderer", ("render",)),
    "register_gateways": ("gateway", ("charge", "refund")),
    "register_notifiers": ("notifier", ("wants", "notify")),
    "register_uploaders": ("uploader", ("upload",)),
}


class PluginError(BillingError):
    """A plugin misbehaved; ``plugin`` names it."""

    reason = "plugin"


@runtime_checkable
class Gateway(Protocol):
    """A payment gateway; ``name`` is unique among loaded gateways (``"sandbox"``).

    Amounts are decimal strings. The same ``idempotency_key`` must never charge or
    refund twice. Both methods return the gateway's outcome as a JSON-compatible dict.
    """

    name: str

    def charge(
        self, invoice: dict[str, Any], amount: str, idempotency_key: str
    ) -> dict[str, Any]: ...

    def refund(
        self, payment: dict[str, Any], amount: str, idempotency_key: str
    ) -> dict[str, Any]: ...


class PermanentFailure(Exception):
    """Raised by a notifier or uploader when retrying cannot help (a refused recipient,
    a rejected document): the outbox marks the delivery failed for good."""


@runtime_checkable
class Notifier(Protocol):
    """Told of billing events after their commit (R-DEL-5); ``name`` is unique.

    ``wants(event_name)`` says which events to queue for it (asked inside the
    transaction: keep it cheap and pure). ``notify(event)`` delivers one: ``event``
    is ``{"id", "name", "at", "payload"}`` with a unique ``id``. Returning means
    delivered; an exception means try again later (backoff), and
    :class:`PermanentFailure` means give up. It may be called again for the same
    event after a crash, so a receiver should drop repeated ids.
    """

    name: str

    def wants(self, event_name: str) -> bool: ...

    def notify(self, event: dict[str, Any]) -> None: ...


@runtime_checkable
class Uploader(Protocol):
    """Delivers an invoice's documents to a customer's portal (R-DEL-4, seed 004).

    ``upload(delivery)`` receives ``{"invoice": <invoice object>, "documents":
    [{"format", "filename", "content_type", "data": bytes}], "custom_fields": {...},
    "settings": {...}, "message_id": str}``; the message id is the same on every retry
    of one delivery. It returns a JSON-compatible receipt (or None); exceptions are
    handled as for notifiers.
    """

    name: str

    def upload(self, delivery: dict[str, Any]) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class _Origin:
    version: str | None
    builtin: bool


def _allowlist(enabled: Iterable[str] | None) -> frozenset[str] | None:
    if isinstance(enabled, str):
        enabled = enabled.split(",")
    if enabled is None:
        raw = os.environ.get(ALLOWLIST_ENV)
        if raw is None:
            return None
        enabled = raw.split(",")
    return frozenset(name.strip() for name in enabled if name.strip())


class PluginHost:
    """A pluggy manager for the ``billingd`` hooks, plus the registries plugins fill.

    Build one with :func:`load_plugins`; tests may start from an empty ``PluginHost()``
    and :meth:`register` plugins themselves.
    """

    def __init__(
        self, settings: Mapping[str, Any] | None = None, *, trace: bool | None = None
    ) -> None:
        self._pm = pluggy.PluginManager("billingd")
        self._pm.add_hookspecs(hookspecs)
        self._settings = dict(settings or {})
        self._origins: dict[str, _Origin] = {}
        self._registries: dict[str, dict[str, Any]] = {}
        self._started = False
        self.load_errors: dict[str, str] = {}
        if trace is None:
            trace = os.environ.get(TRACE_ENV, "") not in ("", "0")
        self._trace = trace
        if trace:
            self._pm.trace.root.setwriter(lambda message: logger.info(message.rstrip()))
            self._pm.enable_tracing()

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy manager; register through :meth:`register` so registries stay current."""
        return self._pm

    # -- loading ---------------------------------------------------------------------------

    def load(self, enabled: Iterable[str] | None = None) -> None:
        """Register entry-point plugins (honouring the allowlist), then the built-ins.

        A plugin that fails to import or register is logged and recorded in
        :attr:`load_errors`; the others still load. Raises :class:`PluginError` when
        plugins register invalid or clashing renderers or gateways, and
        :class:`ValidationError` when ``plugins.settings`` does not match the schemas.
        """
        allowed = _allowlist(enabled)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.module in BUILTIN_PLUGINS:
                continue
            if allowed is not None and ep.name not in allowed:
                logger.debug("plugin %r not in the allowlist; skipped", ep.name)
                continue
            try:
                version = ep.dist.version if ep.dist else None
                self._register(ep.load(), ep.name, _Origin(version, builtin=False))
            except Exception as exc:
                logger.exception("cannot load plugin %r (%s)", ep.name, ep.value)
                self.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
        for name in sorted((allowed or frozenset()) - set(self.plugin_names())):
            if name not in self.load_errors:
                logger.warning("%s names %r, but no such plugin is installed", ALLOWLIST_ENV, name)
        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            if not self._pm.is_registered(module):
                origin = _Origin(billingd.__version__, builtin=True)
                self._register(module, module_name.rpartition(".")[2], origin)
        self._refresh()
        problems = self.check_settings()
        if problems:
            raise ValidationError(
                "invalid plugin settings:\n" + "\n".join(problems), field="plugins.settings"
            )
        self._started = True
        self._call_each("startup", host=self)

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object (a module or any object with hookimpls) under ``name``.

        Raises :class:`PluginError` (and leaves nothing registered) when the plugin
        implements an unknown hook or registers an invalid or clashing renderer.
        """
        self._register(plugin, name, _Origin(None, builtin=False))
        try:
            self._refresh()
        except PluginError:
            self.unregister(name)
            raise
        if self._started:
            self._call_each("startup", only=name, host=self)

    def unregister(self, name: str) -> None:
        """Remove a registered plugin; raises :class:`NotFound` for an unknown name."""
        if self._pm.get_plugin(name) is None:
            raise NotFound(f"no plugin {name!r} is registered", plugin=name)
        self._pm.unregister(name=name)
        self._origins.pop(name, None)
        self._registries.clear()

    def _register(self, plugin: object, name: str, origin: _Origin) -> None:
        try:
            self._pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"cannot register plugin {name!r}: {exc}", plugin=name) from None
        unknown = sorted(
            caller.name
            for caller in self._pm.get_hookcallers(plugin) or ()
            if not caller.has_spec()
            and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
        )
        if unknown:
            self._pm.unregister(name=name)
            raise PluginError(
                f"plugin {name!r} implements unknown hooks: {', '.join(unknown)}", plugin=name
            )
        self._origins[name] = origin
        self._registries.clear()

    # -- calling hooks ---------------------------------------------------------------------

    def _impls(self, hook_name: str, only: str | None = None) -> Iterator[pluggy.HookImpl]:
        """A hook's implementations in pluggy's call order, wrappers left out."""
        for impl in reversed(getattr(self._pm.hook, hook_name).get_hookimpls()):
            if impl.wrapper or impl.hookwrapper or (only and impl.plugin_name != only):
                continue
            yield impl

    def _call(self, impl: pluggy.HookImpl, hook_name: str, kwargs: dict[str, Any]) -> Any:
        if self._trace:
            logger.info("%s -> %s(%s)", impl.plugin_name, hook_name, ", ".join(impl.argnames))
        return impl.function(*(kwargs[arg] for arg in impl.argnames))

    def _call_each(
        self, hook_name: str, *, only: str | None = None, **kwargs: Any
    ) -> list[tuple[str, Any]]:
        """Call every implementation; ``(plugin name, result)`` pairs, failures logged."""
        results = []
        for impl in self._impls(hook_name, only):
            try:
                results.append((impl.plugin_name, self._call(impl, hook_name, kwargs)))
            except Exception:
                logger.exception("plugin %r failed in %s", impl.plugin_name, hook_name)
        return results

    def _collect(self, hook_name: str) -> dict[str, Any]:
        """Run a ``register_*`` hook; validate what each plugin registers."""
        kind, methods = _REGISTRIES[hook_name]
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        problems: list[str] = []
        culprits: set[str] = set()
        plugin = ""

        def register(obj: Any) -> None:
            name = getattr(obj, "name", None)
            missing = [m for m in methods if not callable(getattr(obj, m, None))]
            if not isinstance(name, str) or not name.strip():
                problem = f"registered a {kind} without a name: {obj!r}"
            elif missing:
                problem = f"registered {kind} {name!r} without " + ", ".join(
                    f"{m}()" for m in missing
                )
            elif name in found:
                culprits.add(owners[name])
                problem = f"and plugin {owners[name]!r} both register {kind} {name!r}"
            else:
                found[name] = obj
                owners[name] = plugin
                return
            problems.append(f"plugin {plugin!r} {problem}")
            culprits.add(plugin)

        for impl in self._impls(hook_name):
            plugin = impl.plugin_name
            try:
                self._call(impl, hook_name, {"register": register})
            except Exception:
                logger.exception("plugin %r failed in %s", plugin, hook_name)
        if problems:
            raise PluginError("; ".join(problems), plugins=sorted(culprits))
        return found

    def _registry(self, hook_name: str) -> dict[str, Any]:
        if hook_name not in self._registries:
            self._registries[hook_name] = self._collect(hook_name)
        return self._registries[hook_name]

    def _refresh(self) -> None:
        self._registries.clear()
        for hook_name in _REGISTRIES:
            self._registry(hook_name)

    # -- what plugins provide --------------------------------------------------------------

    def renderers(self) -> dict[str, Renderer]:
        """Every registered renderer by name."""
        return dict(self._registry("register_renderers"))

    def renderer(self, name: str) -> Renderer:
        """The renderer called ``name``; raises :class:`NotFound`."""
        renderers = self._registry("register_renderers")
        if name not in renderers:
            known = ", ".join(sorted(renderers)) or "none"
            raise NotFound(f"no renderer {name!r} (loaded: {known})", renderer=name)
        return renderers[name]

    def gateways(self) -> dict[str, Gateway]:
        """Every registered payment gateway by name."""
        return dict(self._registry("register_gateways"))

    def gateway(self, name: str) -> Gateway:
        """The gateway called ``name``; raises :class:`NotFound`."""
        gateways = self._registry("register_gateways")
        if name not in gateways:
            known = ", ".join(sorted(gateways)) or "none"
            raise NotFound(f"no payment gateway {name!r} (loaded: {known})", gateway=name)
        return gateways[name]

    def notifiers(self) -> dict[str, Notifier]:
        """Every registered notifier by name."""
        return dict(self._registry("register_notifiers"))

    def uploaders(self) -> dict[str, Uploader]:
        """Every registered portal uploader by name."""
        return dict(self._registry("register_uploaders"))

    def uploader(self, name: str) -> Uploader:
        """The uploader called ``name``; raises :class:`NotFound`."""
        uploaders = self._registry("register_uploaders")
        if name not in uploaders:
            known = ", ".join(sorted(uploaders)) or "none"
            raise NotFound(f"no uploader {name!r} (loaded: {known})", uploader=name)
        return uploaders[name]

    def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Tell every ``event_emitted`` listener; a listener's exception is logged, never raised."""
        self._call_each("event_emitted", name=name, payload=payload)

    def rate_usage(self, record: dict[str, Any]) -> Decimal | None:
        """The first plugin's price for a usage record, or None when no plugin rates it.

        Raises :class:`PluginError` naming the plugin when it fails or answers with
        something that is not a decimal amount, so the caller can report the record.
        """
        for impl in self._impls("rate_usage"):
            try:
                result = self._call(impl, "rate_usage", {"record": record})
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed to rate usage record "
                    f"{record.get('id')!r}: {type(exc).__name__}: {exc}",
                    plugin=impl.plugin_name,
                ) from exc
            if result is None:
                continue
            try:
                return D(result)
            except MoneyError as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} rated usage record {record.get('id')!r} "
                    f"as {result!r}: {exc}",
                    plugin=impl.plugin_name,
                ) from None
        return None

    # -- introspection and settings --------------------------------------------------------

    def plugin_names(self) -> list[str]:
        return [name for name, plugin in self._pm.list_name_plugin() if plugin is not None]

    def plugin_list(self) -> list[dict[str, Any]]:
        """What is loaded, for ``billingctl plugins``: name, version, hooks, builtin."""
        listing = []
        for name, plugin in sorted(self._pm.list_name_plugin()):
            if plugin is None:  # blocked
                continue
            origin = self._origins.get(name, _Origin(None, builtin=False))
            hooks = sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ())
            listing.append(
                {"name": name, "version": origin.version, "hooks": hooks, "builtin": origin.builtin}
            )
        return listing

    def settings_for(self, name: str) -> dict[str, Any]:
        """A plugin's own settings (``plugins.settings.<name>``); empty when none."""
        settings = self._settings.get(name)
        return dict(settings) if isinstance(settings, Mapping) else {}

    def check_settings(self) -> list[str]:
        """Every mismatch between ``plugins.settings`` and the plugins' schemas."""
        schemas: dict[str, dict[str, str]] = {}
        for plugin, schema in self._call_each("plugin_settings_schema"):
            if schema is None:
                continue
            if not isinstance(schema, dict) or any(t not in SETTING_TYPES for t in schema.values()):
                logger.error("plugin %r returned an invalid settings schema: %r", plugin, schema)
                continue
            schemas[plugin] = schema
        problems = []
        loaded = set(self.plugin_names())
        for plugin, values in sorted(self._settings.items()):
            prefix = f"plugins.settings.{plugin}"
            if not isinstance(values, Mapping):
                problems.append(f"{prefix}: expected a mapping, got {type(values).__name__}")
                continue
            if plugin not in loaded:
                logger.warning("%s: no plugin %r is loaded; settings ignored", prefix, plugin)
                continue
            schema = schemas.get(plugin)
            if schema is None:
                continue
            for key, value in values.items():
                kind = schema.get(key)
                if kind is None:
                    known = ", ".join(sorted(schema)) or "none"
                    problems.append(f"{prefix}.{key}: unknown setting (known: {known})")
                elif not SETTING_TYPES[kind](value):
                    problems.append(f"{prefix}.{key}: expected {kind}, got {value!r}")
        return problems


def load_plugins(
    settings: Mapping[str, Any] | None = None, enabled: Iterable[str] | None = None
) -> PluginHost:
    """A host with the installed plugins and the built-ins loaded and started.

    :param settings: the ``plugins.settings`` mapping: plugin name -> its settings.
    :param enabled: allowlist of entry-point names; defaults to ``$BILLINGD_PLUGINS``
        (all plugins when that is unset too).
    """
    host = PluginHost(settings)
    host.load(enabled)
    return host
