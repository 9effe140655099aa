"""Water molecules and clusters, end to end: ``verdi run examples/h2o/run.py [config.yaml] [fast|balanced|stringent]``.

Validates the config (also against the profile: codes, the MLIPAutoPipe/Debian/PBE family), runs the
active-learning loop in this process with AiiDA's report lines as it goes, and ends with the
report (``report-<pk>/report.md`` and its figures) and the validation of the final potential:
bonds and angles of the molecule relaxed with the potential against pw.x's relaxation.
"""

import sys
import time
from pathlib import Path

from aiida.engine import run_get_node

from aiida_mlip_autopipe.config import ConfigError, check_against_profile, load_config
from aiida_mlip_autopipe.loop.workchain import ActiveLearningWorkChain
from aiida_mlip_autopipe.report.collect import collect_run
from aiida_mlip_autopipe.report.document import write_report
from aiida_mlip_autopipe.validation.systems import validation_lines

args = [a for a in sys.argv[1:] if not a.startswith('--')]
# verdi run sets __file__ to the bare file name; argv[0] keeps the path.
config_file = args[0] if args else str(Path(sys.argv[0]).resolve().with_name('config.yaml'))
protocol = args[1] if len(args) > 1 else 'fast'
try:
    config = load_config(config_file)
except ConfigError as exc:
    sys.exit(exc.format())
problems = check_against_profile(config)
if problems:
    sys.exit(ConfigError(problems, config_file).format())

started = time.perf_counter()
builder = ActiveLearningWorkChain.get_builder_from_protocol(config, protocol=protocol)
builder.metadata.label = config.name
results, node = run_get_node(builder)
wall = time.perf_counter() - started
print(f'ActiveLearningWorkChain<{node.pk}> finished [{node.exit_status}] in {wall:.0f} s')
if 'stop' in results:
    print(f'stopped by {results["stop"]["rule"]}: {results["stop"]["message"]}')
folder = Path(f'report-{node.pk}')
folder.mkdir(exist_ok=True)
report = write_report(collect_run(node), folder)
print(f'report: {report}')
if 'validation' in results:
    for line in validation_lines(results['validation'].get_dict()):
        print(f'validation: {line}')
sys.exit(0 if node.is_finished_ok else 1)
