"""The plugins shipped with billingd, written against the same public hooks as any other.

Each module is one plugin, declared in the ``billingd`` entry-point group and also
listed in :data:`billingd.plugins.BUILTIN_PLUGINS` so it loads from a source checkout.
"""
