"""LRA harness: data, model, training, benchmarks and their command-line entry points."""

from pathlib import Path

# The Hydra config tree (``conf/`` at the repository root), as an absolute path: Hydra resolves a relative
# ``config_path`` against the calling module, which a console script (``lra-train``) reaches through the editable
# install's import hook, where ``conf`` is no package; an absolute path works for ``python -m`` and scripts alike.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
