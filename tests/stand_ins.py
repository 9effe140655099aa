"""What ``aiida-mlip-autopipe setup`` puts in a profile, without Quantum ESPRESSO on the machine.

For tests that check builders, inputs and the profile checks of a config, never a pw.x run
(issue 12: they must run where pw.x and ``quantum-espresso-data`` are absent):

- the pseudopotential families of :data:`~aiida_mlip_autopipe.provision.DEBIAN_FAMILIES`, same
  labels, elements and recommended cutoffs, made by the real ``ensure_debian_families`` from
  synthetic header-only UPF files that carry the element and valence of Debian's file (the two
  things aiida-pseudo reads; pw.x could not run on them);
- the codes of :func:`~aiida_mlip_autopipe.provision.default_code_specs` on ``localhost``, made by
  the real ``ensure_code``, except that a code whose executable is not installed (``pw.x`` without
  Quantum ESPRESSO) runs ``/bin/true``.

Stand-ins carry the extra :data:`STAND_IN_EXTRA`. The ``pseudo_families`` fixture of the tests that
run pw.x removes stand-in families first, and ``ensure_code`` replaces a stand-in code by the real
one (it is marked as made by set-up), so a real run never meets a stand-in.
"""

from __future__ import annotations

from pathlib import Path

#: Extra set on every stand-in family and code.
STAND_IN_EXTRA = 'mlip_test_stand_in'
STAND_IN_EXECUTABLE = '/bin/true'

#: Z valence of each Debian UPF of ``DEBIAN_FAMILIES`` (read from the files of quantum-espresso-data
#: 6.7; ``tests/test_stand_ins.py`` compares them with the files where they are installed).
VALENCES: dict[str, int] = {
    'Al.pz-vbc.UPF': 3,
    'As.pz-bhs.UPF': 5,
    'Au.pz-rrkjus_aewfc.UPF': 11,
    'B.pbe-n-kjpaw_psl.1.0.0.UPF': 3,
    'B.pz-vbc.UPF': 3,
    'C.pbe-n-kjpaw_psl.0.1.UPF': 4,
    'C.pz-rrkjus.UPF': 4,
    'Co.pbesol-spn-rrkjus_psl.0.3.1.UPF': 17,
    'Cr.pbe-spn-kjpaw_psl.1.0.0.UPF': 14,
    'Cu.pbe-kjpaw.UPF': 11,
    'Cu.pz-d-rrkjus.UPF': 11,
    'Fe.pbe-spn-rrkjus_psl.0.2.1.UPF': 16,
    'Fe.pbesol-spn-kjpaw_psl.1.0.0.UPF': 16,
    'Fe.pz-nd-rrkjus.UPF': 8,
    'Ge.pbe-kjpaw.UPF': 4,
    'H.pbe-kjpaw.UPF': 1,
    'H.pz-vbc.UPF': 1,
    'I.pbe-n-kjpaw_psl.1.0.0.UPF': 7,
    'Li.pbesol-s-kjpaw_psl.0.2.1.UPF': 3,
    'Mg.pz-n-vbc.UPF': 2,
    'N.pbe-n-kjpaw_psl.1.0.0.UPF': 5,
    'Ni.pbe-spn-kjpaw_psl.1.0.0.UPF': 18,
    'Ni.pbesol-n-kjpaw_psl.0.1.UPF': 10,
    'Ni.pz-nd-rrkjus.UPF': 10,
    'O.pbe-kjpaw.UPF': 6,
    'O.pbesol-n-kjpaw_psl.0.1.UPF': 6,
    'O.pz-rrkjus.UPF': 6,
    'Pb.pz-d-van.UPF': 14,
    'Rh.pbe-rrkjus_lb.UPF': 9,
    'Si.pbe-nl-rrkjus_psl.1.0.0.UPF': 4,
    'Si.pz-vbc.UPF': 4,
    'Ti.pz-sp-van_ak.UPF': 12,
}

_UPF = """<UPF version="2.0.1">
<PP_INFO>
Synthetic stand-in for Debian's {filename} (aiida-mlip-autopipe tests): a header only, no potential.
</PP_INFO>
<PP_HEADER
element="{element}"
pseudo_type="NC"
z_valence="{valence:.1f}"
/>
</UPF>
"""


def is_stand_in(node) -> bool:
    """Whether a code or family is one of these stand-ins."""
    return bool(node.base.extras.get(STAND_IN_EXTRA, False))


def write_synthetic_upfs(folder: Path) -> Path:
    """Write one header-only UPF per file of ``DEBIAN_FAMILIES`` into ``folder``; return it."""
    from aiida_mlip_autopipe.provision import DEBIAN_FAMILIES

    folder.mkdir(parents=True, exist_ok=True)
    for table in DEBIAN_FAMILIES.values():
        for element, (filename, _, _) in table.items():
            if filename not in VALENCES:
                raise KeyError(f'tests/stand_ins.py: add the valence of {filename} ({element}) to VALENCES')
            text = _UPF.format(filename=filename, element=element, valence=VALENCES[filename])
            (folder / filename).write_text(text, encoding='utf-8')
    return folder


def install_stand_in_families(folder: Path) -> list[str]:
    """The families of ``DEBIAN_FAMILIES`` in the loaded profile: existing ones kept, the others from stand-ins."""
    from aiida import orm

    from aiida_mlip_autopipe.provision import DEBIAN_FAMILIES, ensure_debian_families

    existing = {g.label for g in orm.QueryBuilder().append(orm.Group, project='*').all(flat=True)}
    labels = ensure_debian_families(pseudo_dir=write_synthetic_upfs(folder), echo=lambda _: None)
    for label in set(labels) - existing:
        orm.load_group(label).base.extras.set(STAND_IN_EXTRA, True)
    assert set(labels) == set(DEBIAN_FAMILIES), labels
    return labels


def remove_stand_in_families() -> list[str]:
    """Delete the stand-in families of the loaded profile (before real pw.x runs need the real ones)."""
    from aiida import orm

    query = orm.QueryBuilder().append(orm.Group, filters={f'extras.{STAND_IN_EXTRA}': True}, project='*')
    removed = []
    for group in query.all(flat=True):
        removed.append(group.label)
        orm.Group.collection.delete(group.pk)
    return removed


def stand_in_codes(computer_label: str = 'localhost') -> dict:
    """The codes of ``setup`` on ``computer_label``; one running ``/bin/true`` for each executable not installed.

    Codes whose executables exist are made by the real ``ensure_code``, so only what is missing from
    the machine (``pw.x`` where Quantum ESPRESSO is not installed) is a stand-in.
    """
    from pathlib import Path

    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_mlip_autopipe.provision import default_code_specs, ensure_code

    computer = orm.load_computer(computer_label)
    codes = {}
    for spec in default_code_specs():
        if Path(spec.executable).is_file():
            codes[spec.label] = ensure_code(spec, computer_label=computer_label, echo=lambda _: None)
            continue
        try:
            code = orm.load_code(f'{spec.label}@{computer_label}')
        except NotExistent:
            code = None
        if code is not None and is_stand_in(code):
            codes[spec.label] = code
            continue
        if code is not None:  # a code whose executable is gone: out of the way, as ensure_code does
            code.label = f'{spec.label}-stale-{code.pk}'
            code.is_hidden = True
        code = orm.InstalledCode(
            computer=computer,
            filepath_executable=STAND_IN_EXECUTABLE,
            label=spec.label,
            description=f'stand-in for {spec.description} (tests only)',
            default_calc_job_plugin=spec.plugin,
        ).store()
        # Marked as made by set-up, so that ensure_code replaces it by the real code when a test needs that.
        code.base.extras.set_many({'mlip_autopipe_setup': True, STAND_IN_EXTRA: True})
        codes[spec.label] = code
    return codes
