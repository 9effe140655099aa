"""Turn AiiDA caching of the DFT step on and off for a profile.

With caching on, a ``PwCalculation`` whose inputs (structure, parameters, k-points, pseudos,
code) hash the same as one that already finished is not run again: AiiDA stores a copy of the
finished node, linked to its source, and no pw.x process starts. Re-running a labelling with
the same settings then costs no DFT. Only pw.x is cached: the fits and MD runs are cheap by
comparison and depend on seeds that change by design.

The setting lives in the profile's configuration (``caching.enabled_for``), so it applies to
``verdi run`` and, after ``verdi daemon restart``, to the daemon workers.
"""

from __future__ import annotations

__all__ = ('DFT_CACHING_IDENTIFIERS', 'dft_caching_enabled', 'set_dft_caching')

#: The process types whose nodes are reused from the cache: the pw.x CalcJob.
DFT_CACHING_IDENTIFIERS: tuple[str, ...] = ('aiida.calculations:quantumespresso.pw',)


def _profile_name(profile_name: str | None) -> str:
    from aiida.manage import get_manager

    if profile_name:
        return profile_name
    profile = get_manager().get_profile()
    if profile is None:
        raise RuntimeError('no AiiDA profile is loaded; pass profile_name or load one')
    return profile.name


def set_dft_caching(enabled: bool, profile_name: str | None = None) -> bool:
    """Enable or disable caching of pw.x runs for a profile (default: the loaded one); idempotent.

    Enabling adds the pw.x entry point to ``caching.enabled_for`` and removes it from
    ``caching.disabled_for``. Disabling removes it from ``caching.enabled_for`` and, only when
    the profile caches everything by default (``caching.default_enabled``), adds it to
    ``caching.disabled_for``. Other entries of both lists are left alone.

    :returns: whether the configuration changed.
    """
    from aiida.manage.configuration import get_config

    config = get_config()
    name = _profile_name(profile_name)
    enabled_for = list(config.get_option('caching.enabled_for', scope=name) or [])
    disabled_for = list(config.get_option('caching.disabled_for', scope=name) or [])
    default_enabled = bool(config.get_option('caching.default_enabled', scope=name))
    new_enabled = [i for i in enabled_for if i not in DFT_CACHING_IDENTIFIERS]
    new_disabled = [i for i in disabled_for if i not in DFT_CACHING_IDENTIFIERS]
    if enabled:
        new_enabled += list(DFT_CACHING_IDENTIFIERS)
    elif default_enabled:
        new_disabled += list(DFT_CACHING_IDENTIFIERS)
    changed = (new_enabled, new_disabled) != (enabled_for, disabled_for)
    if changed:
        config.set_option('caching.enabled_for', new_enabled, scope=name)
        config.set_option('caching.disabled_for', new_disabled, scope=name)
        config.store()
    return changed


def dft_caching_enabled(profile_name: str | None = None) -> bool:
    """Whether pw.x runs are taken from the cache in this profile (default: the loaded one).

    For the loaded profile this is AiiDA's own decision (``get_use_cache``: the most specific
    matching pattern wins, wildcards included); for another profile the exact entries and
    ``caching.default_enabled`` are read from its configuration.
    """
    from aiida.manage import get_manager
    from aiida.manage.caching import get_use_cache
    from aiida.manage.configuration import get_config

    name = _profile_name(profile_name)
    identifier = DFT_CACHING_IDENTIFIERS[0]
    loaded = get_manager().get_profile()
    if loaded is not None and loaded.name == name:
        return get_use_cache(identifier=identifier)
    config = get_config()
    if identifier in (config.get_option('caching.disabled_for', scope=name) or []):
        return False
    if identifier in (config.get_option('caching.enabled_for', scope=name) or []):
        return True
    return bool(config.get_option('caching.default_enabled', scope=name))
