"""Prefect deployment steps that build, push and pull flows with ocisync.

Each step runs the ``ocisync`` binary (``$OCISYNC_BIN``, else ``ocisync`` on
``PATH``) with ``--json`` and returns what it printed, as a dict. The package
has no dependencies and does not import Prefect, so ``requires:`` installs it
in a second::

    build:
      - prefect_ocisync.build:
          id: build
          requires: prefect-ocisync
          recipe: ocisync.yaml

    pull:
      - prefect_ocisync.pull:
          requires: prefect-ocisync
          image: "{{ build.image_name }}@{{ build.digest }}"
          directory: /opt/flow
          code_path: /opt/prefect/flows

``pull`` returns ``{"directory": ...}``, so Prefect changes into the code
folder by itself, and makes the dependency folder importable in the running
interpreter, which a shell step cannot do.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

__all__ = ["DEPS_PATH", "OcisyncError", "build", "ocisync_binary", "pull", "push"]
__version__ = "0.1.0"

#: Where ``ocisync deps`` puts packages in an image unless told otherwise.
DEPS_PATH = "/opt/ocisync/deps"


class OcisyncError(RuntimeError):
    """ocisync failed; the message is its own error output."""

    def __init__(self, command: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(stderr.strip() or f"{command[0]} exited with code {returncode}")
        self.command = list(command)
        self.returncode = returncode
        self.stderr = stderr


def ocisync_binary() -> str:
    """The ocisync executable: ``$OCISYNC_BIN``, else ``ocisync`` on ``PATH``."""
    explicit = os.environ.get("OCISYNC_BIN")
    if explicit:
        return explicit
    found = shutil.which("ocisync")
    if found is None:
        raise OcisyncError(
            ["ocisync"], 127, "ocisync is not on PATH: install it, or set OCISYNC_BIN to its path"
        )
    return found


def _run(args: Sequence[str], cwd: Optional[str] = None) -> Dict[str, Any]:
    command = [ocisync_binary(), *args, "--json"]
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise OcisyncError(command, completed.returncode, completed.stderr)
    return json.loads(completed.stdout)


def _repeat(option: str, values: Iterable[str]) -> list:
    return [part for value in values for part in (option, value)]


def _command(value: Any) -> str:
    """A program as ``--entrypoint`` and ``--cmd`` take it: a JSON array for a list."""
    return json.dumps(list(value)) if isinstance(value, (list, tuple)) else str(value)


def build(
    recipe: str = "ocisync.yaml",
    image: Optional[str] = None,
    tags: Iterable[str] = (),
    dry_run: bool = False,
    no_cache: bool = False,
    extra_args: Iterable[str] = (),
) -> Dict[str, Any]:
    """Builds and pushes the image of an ``ocisync.yaml`` recipe.

    Returns the fields of prefect-docker's results (``image_name``, ``tag``,
    ``image``, ``image_id``, ``additional_tags``) with ``digest``, ``layers``
    and the transfer counts; ``"{{ build.image_name }}@{{ build.digest }}"`` is the
    pinned reference.
    """
    args = ["build", "-f", recipe, *_repeat("--tag", tags), *extra_args]
    if image:
        args += ["--image", image]
    if dry_run:
        args.append("--dry-run")
    if no_cache:
        args.append("--no-cache")
    return _run(args)


def push(
    image: str,
    sources: Iterable[str],
    tag: Optional[str] = None,
    additional_tags: Iterable[str] = (),
    base: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    workdir: Optional[str] = None,
    entrypoint: Any = None,
    cmd: Any = None,
    user: Optional[str] = None,
    labels: Optional[Mapping[str, str]] = None,
    platform: Optional[str] = None,
    extra_args: Iterable[str] = (),
) -> Dict[str, Any]:
    """Pushes folders (``DIR:DEST``) and layer files as an image.

    ``tag`` and ``additional_tags`` mean what they mean for prefect-docker's
    ``push_docker_image``. ``base`` appends the layers to that image;
    ``env``, ``workdir``, ``entrypoint``, ``cmd`` (a string or a list),
    ``user`` and ``labels`` edit its config. Returns what ``build`` returns.
    """
    reference = f"{image}:{tag}" if tag else image
    args = ["push", reference, *sources, *_repeat("--tag", additional_tags), *extra_args]
    args += _repeat("--env", (f"{k}={v}" for k, v in (env or {}).items()))
    args += _repeat("--label", (f"{k}={v}" for k, v in (labels or {}).items()))
    for option, value in (("--base", base), ("--workdir", workdir), ("--user", user),
                          ("--platform", platform)):
        if value is not None:
            args += [option, value]
    for option, value in (("--entrypoint", entrypoint), ("--cmd", cmd)):
        if value is not None:
            args += [option, _command(value)]
    return _run(args)


def pull(
    image: str,
    directory: str = ".",
    code_path: str = "",
    deps_path: str = DEPS_PATH,
    platform: Optional[str] = None,
    extra_args: Iterable[str] = (),
) -> Dict[str, Any]:
    """Pulls an image's files into ``directory`` and makes them usable here.

    Returns ``{"directory": ...}``, the code folder (``directory`` joined with
    ``code_path``), which Prefect changes into; ``deps_directory``; and the
    ``digest`` pulled. When the image has a dependency folder (``deps_path``),
    it is put first on ``sys.path`` and ``PYTHONPATH``, and the import caches
    are invalidated: a ``PYTHONPATH`` entry that did not exist when Python
    started stays dead until ``importlib.invalidate_caches()`` runs.
    """
    root = Path(directory).resolve()
    args = ["pull", image, "-o", str(root), *extra_args]
    if platform:
        args += ["--platform", platform]
    result = _run(args)
    deps = root / deps_path.lstrip("/")
    if deps.is_dir():
        _activate(str(deps))
    return {
        "directory": str(root / code_path.lstrip("/")),
        "deps_directory": str(deps) if deps.is_dir() else None,
        "digest": result["digest"],
        "image": image,
    }


def _activate(folder: str) -> None:
    if folder not in sys.path:
        sys.path.insert(0, folder)
    entries = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if folder not in entries:
        os.environ["PYTHONPATH"] = os.pathsep.join([folder, *filter(None, entries)])
    # The path finder caches "nothing here" for a folder that was missing at start-up.
    importlib.invalidate_caches()
