"""Run an active-learning loop from a YAML config with ``verdi run``.

    verdi run examples/run_active_learning.py examples/si/config.yaml [fast|balanced|stringent] [--submit]

The same as ``aiida-mlip-autopipe run``, written out so it can be adapted: the config
is validated (also against the profile: codes, pseudopotential family) before anything
is stored, the builder comes from ``get_builder_from_protocol``, and the run goes to
the daemon with ``--submit`` or runs here, printing AiiDA's report lines as it goes.
"""

import sys

from aiida.engine import run_get_node, submit

from aiida_mlip_autopipe.config import ConfigError, check_against_profile, load_config
from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain

args = [a for a in sys.argv[1:] if not a.startswith('--')]
if not args:
    sys.exit(__doc__)
config_file = args[0]
protocol = args[1] if len(args) > 1 else 'fast'
try:
    config = load_config(config_file)
except ConfigError as exc:
    sys.exit(exc.format())
problems = check_against_profile(config)
if problems:
    sys.exit(ConfigError(problems, config_file).format())

builder = ActiveLearningWorkChain.get_builder_from_protocol(config, protocol=protocol)
builder.metadata.label = config.name
if '--submit' in sys.argv:
    node = submit(builder)
    print(f'Submitted ActiveLearningWorkChain<{node.pk}>')
    print(f'follow it with: aiida-mlip-autopipe status {node.pk} --watch 10')
else:
    results, node = run_get_node(builder)
    print(f'ActiveLearningWorkChain<{node.pk}> finished [{node.exit_status}]')
    if 'stop' in results:
        print(f'stopped by {results["stop"]["rule"]}: {results["stop"]["message"]}')
    print(f'report: aiida-mlip-autopipe report {node.pk} -o report-{node.pk}')
