"""optiwise installed from its wheel works outside the checkout.

The sdist and wheel are built from a copy of the working tree, the wheel is
installed into a fresh venv in a temporary folder, and the ``optiwise``
command of that venv is run from another temporary folder, as a user who ran
``pip install optiwise`` would: the registry, the sample problems and the
prompts must come from the installed package data, never from the checkout.

To stay fast and offline, the venv does not download optiwise's
dependencies: a ``.pth`` file lends it this interpreter's site-packages
(which hold no copy of optiwise's own packages: an editable install maps them
through a finder that ``.pth`` path lines do not run; ``--ignore-installed``
keeps pip from counting or touching that editable install). Building takes the
``build`` and ``setuptools`` of the dev extra (``--no-isolation``).

Slow (about 20-40 s): a build, an install and four fresh interpreters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.stub_server import StubServer
from evals.registry import list_datasets
from modeling.samples import get_sample, load_samples

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "runs",
    "test-output",
    ".optiwise",
)


@dataclass(frozen=True)
class Installed:
    """A venv holding the installed wheel, and a clean place to run it from."""

    source: Path
    """The copy of the working tree the wheel was built from."""
    wheel: Path
    venv: Path
    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("packaging")
    assert not base.resolve().is_relative_to(ROOT), "the test must run outside the checkout"
    source = base / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_NOT_SOURCE)
    dist = base / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    _check(build, "python -m build")
    (wheel,) = dist.glob("optiwise-*.whl")

    venv = base / "venv"
    _check(
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)],
            capture_output=True,
            text=True,
            timeout=120,
        ),
        "python -m venv",
    )
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "_optiwise_test_deps.pth").write_text(
        sysconfig.get_path("purelib") + "\n", encoding="utf-8"
    )
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", "--ignore-installed", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    _check(install, "pip install the wheel")

    cwd = base / "elsewhere"
    cwd.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "OPTIWISE_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(base / "home"),
        XDG_CACHE_HOME=str(base / "cache"),
        OPTIWISE_HOME=str(base / "optiwise-home"),
    )
    yield Installed(source, wheel, venv, cwd, env)


def test_the_wheel_ships_every_file_of_the_packages(installed: Installed) -> None:
    """Modules, data files and scripts (ui/pages) alike: nothing works only in a checkout."""
    tree = installed.source
    packages = [p.name for p in tree.iterdir() if (p / "__init__.py").is_file()]
    files = {
        (Path(folder) / file).relative_to(tree).as_posix()
        for name in packages
        for folder, _, names in os.walk(tree / name, followlinks=True)  # modeling/_data
        for file in names
        if "__pycache__" not in folder and not file.endswith(".pyc")
    }
    files.discard("modeling/_data/README.md")  # the registry's documentation, for the repo
    assert "modeling/_data/benchmarks.toml" in files and "agent/prompts/formulate.md" in files
    shipped = set(zipfile.ZipFile(installed.wheel).namelist())
    assert sorted(files - shipped) == []


def test_the_installed_package_reads_its_own_data(installed: Installed) -> None:
    proc = installed.run(
        "python",
        "-c",
        "import modeling, agent.prompts, evals.registry as r; from modeling.samples import "
        "get_sample; print(modeling.__file__); print(get_sample('transport_basic').source); "
        "print(len(r.list_datasets()))",
    )
    _check(proc, "python -c")
    module, sample, count = proc.stdout.split("\n")[:3]
    venv = installed.venv.resolve()
    assert Path(module).resolve().is_relative_to(venv)
    assert Path(sample).resolve().is_relative_to(venv)
    assert int(count) == len(list_datasets())


def test_data_list_shows_every_registered_dataset(installed: Installed) -> None:
    proc = installed.run("optiwise", "data", "list")
    _check(proc, "optiwise data list")
    shown = {line.split()[0] for line in proc.stdout.splitlines()[1:] if line.strip()}
    assert {e.name for e in list_datasets()} <= shown


def test_solve_a_packaged_sample(installed: Installed) -> None:
    where = installed.run(
        "python",
        "-c",
        "from modeling.samples import get_sample; print(get_sample('transport_basic').source)",
    )
    _check(where, "locating the sample")
    proc = installed.run("optiwise", "solve", where.stdout.strip(), "--json")
    _check(proc, "optiwise solve")
    result = json.loads(proc.stdout)
    expected = get_sample("transport_basic")
    assert result["status"] == expected.expected_status
    assert result["objective"] == pytest.approx(expected.expected_objective)


def test_ask_retrieves_worked_examples_from_the_package(installed: Installed) -> None:
    sample = get_sample("transport_basic")
    trace = installed.cwd / "trace.json"
    with StubServer([json.dumps(dict(sample.formulation))]) as stub:
        proc = installed.run(
            "optiwise",
            "ask",
            "--json",
            "--base-url",
            stub.base_url,
            "--trace",
            str(trace),
            sample.problem,
        )
    _check(proc, "optiwise ask")
    result = json.loads(proc.stdout)
    assert result["status"] == "optimal"
    assert result["objective"] == pytest.approx(sample.expected_objective)

    prompts = "\n".join(
        str(m.get("content") or "")
        for e in json.loads(trace.read_text(encoding="utf-8"))["events"]
        if e.get("kind") == "llm"
        for m in e.get("messages", [])
    )
    shown = [s.id for s in load_samples() if s.id != sample.id and s.problem in prompts]
    assert len(shown) > 0, "the installed agent put no worked example in its prompt"
