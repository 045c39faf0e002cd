"""The hooks a billingd plugin can implement (SPEC §11).

Plugins are ordinary Python packages that declare an entry point in the ``billingd``
group and mark their functions with :data:`hookimpl`::

    from billingd.hookspecs import hookimpl

    @hookimpl
    def register_renderers(register):
        register(MyRenderer())

An implementation may accept fewer arguments than the spec lists, so adding an
argument to a hook later never breaks a plugin. Hooks are called through pluggy's
own dispatch, so ``@hookimpl(tryfirst=True)``, ``trylast`` and hook wrappers
(``@hookimpl(wrapper=True)``, a generator that yields once and returns the result)
work on every hook. ``startup``, ``settings_changed``, ``plugin_settings_schema``,
the ``register_*`` hooks and ``event_emitted`` are called plugin by plugin (a
failure stays with its plugin), so a wrapper of those runs around each plugin's
call. ``docs/plugins.md`` documents every
hook; a test keeps it honest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    from billingd.plugins import Gateway, Notifier, PluginHost, Uploader
    from billingd.rendering import Renderer

hookspec = pluggy.HookspecMarker("billingd")
hookimpl = pluggy.HookimplMarker("billingd")


# -- set-up -----------------------------------------------------------------------------


@hookspec
def plugin_settings_schema() -> dict[str, str] | None:
    """Describe this plugin's own settings, read from ``plugins.settings.<name>``.

    :return: a mapping of setting key to type name (``"str"``, ``"int"``, ``"bool"``,
        ``"decimal"``, ``"list"``, ``"dict"``), or None when the plugin has no
        settings. The host refuses unknown keys and values of the wrong type.
    """


@hookspec
def startup(host: PluginHost) -> None:
    """Called once after all plugins are loaded and their settings checked; a plugin
    registered later is called when it is registered.

    :param host: the :class:`billingd.plugins.PluginHost`; ``host.settings_for(name)``
        gives a plugin its settings.
    :return: ignored. An exception is logged with the plugin's name and stops
        nothing else. A plugin without ``settings_changed`` is called again when
        its settings change on a reload.
    """


@hookspec
def settings_changed(host: PluginHost, settings: dict[str, Any]) -> None:
    """Called on a config reload (SIGHUP) when this plugin's own settings changed.

    The new ``plugins.settings`` were checked against every plugin's schema first;
    a reload with settings that do not match changes nothing and calls nobody.

    :param host: the :class:`billingd.plugins.PluginHost`, already holding the new
        settings.
    :param settings: this plugin's new settings (``plugins.settings.<name>``; empty
        when they were removed).
    :return: ignored. An exception is logged with the plugin's name; the other
        plugins are still told.
    """


# -- registries -------------------------------------------------------------------------


@hookspec
def register_renderers(register: Callable[[Renderer], None]) -> None:
    """Register document renderers (PDF, e-invoice formats, ...).

    :param register: call ``register(renderer)`` once per object satisfying
        :class:`billingd.rendering.Renderer`. The host refuses a renderer without a
        non-empty ``name`` or a ``render`` method, and a name already taken.
    :return: ignored.
    """


@hookspec
def register_gateways(register: Callable[[Gateway], None]) -> None:
    """Register payment gateways.

    :param register: call ``register(gateway)`` once per object satisfying
        :class:`billingd.plugins.Gateway` (``name``, ``charge()``, ``refund()``). The
        same validation as for renderers applies.
    :return: ignored.
    """


@hookspec
def register_notifiers(register: Callable[[Notifier], None]) -> None:
    """Register notifiers: they are told of billing events after the commit (R-DEL-5).

    :param register: call ``register(notifier)`` once per object satisfying
        :class:`billingd.plugins.Notifier` (``name``, ``wants(event)``,
        ``notify(event)``). Each event a notifier wants is queued for it in the
        transaction that caused it and delivered from the outbox: retried with
        backoff until ``notify`` returns, given up on :class:`billingd.plugins.
        PermanentFailure`.
    :return: ignored.
    """


@hookspec
def register_uploaders(register: Callable[[Uploader], None]) -> None:
    """Register portal uploaders, chosen per bill group (``billgroup --uploader NAME``).

    :param register: call ``register(uploader)`` once per object satisfying
        :class:`billingd.plugins.Uploader` (``name``, ``upload(delivery)``). Uploads
        are queued and retried like email (R-DEL-4).
    :return: ignored.
    """


# -- billing ----------------------------------------------------------------------------


@hookspec(firstresult=True)
def rate_usage(record: dict[str, Any]) -> str | None:
    """Price an unrated usage record (a call, a traffic volume, ...).

    :param record: the usage record as the socket returns it; quantities are
        decimal strings.
    :return: the amount as a decimal string (e.g. ``"0.042"``), or None to let the
        next plugin answer. Stops at the first non-None result.
    """


# -- events -----------------------------------------------------------------------------


@hookspec
def event_emitted(name: str, payload: dict[str, Any]) -> None:
    """Listen to billing events: ``invoice.issued``, ``payment.recorded``, ...

    :param name: the event name, ``<thing>.<past tense verb>``.
    :param payload: the event's data as plain JSON-compatible values; do not modify it.
    :return: ignored. An exception is logged with the plugin's name and never reaches
        the code that emitted the event.
    """
