"""The package's import rules, checked on the source (an AST walk, no imports executed).

(a) Handlers (dicomweb/, slicer_api/, and every other module defining `create_blueprint`, e.g. admin.py,
    health.py) reach state only through the engine Protocols: from engine/ they import only protocol.py,
    the *_api.py value modules and errors.py; besides that, formats/ and the other non-engine modules.
(b) engine/headless/ and engine/slicer/ never import each other, nor HTTP code: web frameworks and every
    slicerweb module outside engine/ and formats/ except the plain leaf `version.py`. The processes that
    compose an app with an engine are entry points next to the app (cli.py, slicer_process.py), not engines.
(c) Runtime modules never import the development-only packages demo/, issuer/, devstack/. The one
    exception is cli.py, the entry point where development subcommands and demo data are chosen: it may
    import them only inside the function that runs `slicerweb issuer ...` or `serve --demo` (never at
    module level), so no server started without --demo loads dev code.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import APP_DIR, subprocess_env

PACKAGE = APP_DIR / "slicerweb"
DEV_ONLY = ("slicerweb.demo", "slicerweb.issuer", "slicerweb.devstack")
ENGINES = ("slicerweb.engine.headless", "slicerweb.engine.slicer")
HTTP_FRAMEWORKS = ("quart", "hypercorn", "werkzeug", "starlette")
DEV_ENTRY_POINT = "slicerweb.cli"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. slicerweb.dicomweb.wado
    target: str  # the imported module, absolute, e.g. slicerweb.engine.dicom_api
    line: int
    in_function: bool

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def is_in(name: str, *packages: str) -> bool:
    """True when `name` is one of `packages` or inside one of them."""
    return any(name == p or name.startswith(p + ".") for p in packages)


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package under `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """Every import in one module, relative ones resolved; `from pkg import mod` names the module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = {id(inner) for f in functions for inner in ast.walk(f) if inner is not f}
    for node in ast.walk(tree):
        in_function = id(node) in nested
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno, in_function)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                yield Import(name, target if target in known else base, node.lineno, in_function)


def all_imports(root: Path) -> list[Import]:
    known = modules(root)
    return [imp for name, path in known.items() for imp in imports_of(name, path, known)]


def handlers(root: Path) -> set[str]:
    """dicomweb/, slicer_api/ and every runtime module that defines a blueprint (so a new one cannot escape)."""
    found = set()
    for name, path in modules(root).items():
        if is_in(name, *DEV_ONLY):
            continue
        if is_in(name, "slicerweb.dicomweb", "slicerweb.slicer_api") or "def create_blueprint(" in path.read_text():
            found.add(name)
    return found


def handler_violations(root: Path) -> list[str]:
    """Rule (a)."""
    allowed_engine = ("slicerweb.engine", "slicerweb.engine.protocol", "slicerweb.engine.errors")
    names = handlers(root)
    return sorted({str(i) for i in all_imports(root) if i.module in names and is_in(i.target, "slicerweb.engine")
                   and i.target not in allowed_engine and not (i.target.count(".") == 2 and i.target.endswith("_api"))})


def engine_violations(root: Path) -> list[str]:
    """Rule (b)."""
    found = set()
    for i in all_imports(root):
        own = next((e for e in ENGINES if is_in(i.module, e)), None)
        if own is None:
            continue
        other_engine = is_in(i.target, *ENGINES) and not is_in(i.target, own)
        http = is_in(i.target, *HTTP_FRAMEWORKS) or (
            is_in(i.target, "slicerweb") and not is_in(i.target, "slicerweb.engine", "slicerweb.formats")
            and i.target not in ("slicerweb", "slicerweb.version"))
        if other_engine or http:
            found.add(str(i))
    return sorted(found)


def dev_only_violations(root: Path) -> list[str]:
    """Rule (c)."""
    return sorted({str(i) for i in all_imports(root)
                   if is_in(i.target, *DEV_ONLY) and not is_in(i.module, *DEV_ONLY)
                   and not (i.module == DEV_ENTRY_POINT and i.in_function)})


RULES = {"handlers": handler_violations, "engines": engine_violations, "dev-only": dev_only_violations}


@pytest.mark.parametrize("rule", RULES)
def test_import_rule_holds(rule: str) -> None:
    assert RULES[rule](PACKAGE) == []


def test_a_server_process_loads_no_dev_code() -> None:
    """The runtime counterpart of rule (c): importing what `serve` and the Slicer-started process run, and
    building the CLI, leaves demo/, issuer/ and devstack/ unloaded (an importlib call would show here)."""
    code = ("import sys; from slicerweb import app, cli, slicer_process; from slicerweb.engine.headless import engine; "
            f"cli.build_parser(); print(sorted(m for m in sys.modules if m.startswith({DEV_ONLY!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(),
                          timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_the_check_sees_what_it_checks() -> None:
    """Guards against a walk that finds nothing: the known seams are present and classified."""
    imports = all_imports(PACKAGE)
    assert {"slicerweb.dicomweb.wado", "slicerweb.admin", "slicerweb.health", "slicerweb.slicer_api.volumes"} \
        <= handlers(PACKAGE)
    assert any(i.module == "slicerweb.dicomweb.qido" and i.target == "slicerweb.engine.dicom_api" for i in imports)
    assert any(i.module == DEV_ENTRY_POINT and is_in(i.target, "slicerweb.demo") and i.in_function for i in imports)


def test_each_rule_catches_a_violation(tmp_path: Path) -> None:
    """A package with one violation of each rule: every rule reports exactly its own."""
    files = {
        "__init__.py": "",
        "cli.py": "from .issuer import command\n",  # (c): the entry point, but at module level
        "admin.py": "from .engine.headless.store import Store\ndef create_blueprint(): ...\n",  # (a)
        "engine/__init__.py": "",
        "engine/dicom_api.py": "",
        "engine/headless/__init__.py": "",
        "engine/headless/store.py": "from ..slicer import scene\nimport quart\n",  # (b) twice
        "engine/slicer/__init__.py": "",
        "engine/slicer/scene.py": "",
        "dicomweb/__init__.py": "from ..engine import dicom_api\ndef demo():\n    from ..demo import studies\n",  # (c)
        "demo/__init__.py": "",
        "demo/studies.py": "",
        "issuer/__init__.py": "",
        "issuer/command.py": "from ..engine.headless import store\n",  # dev code may import anything
    }
    root = tmp_path / "slicerweb"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    assert handler_violations(root) == ["slicerweb.admin:1 imports slicerweb.engine.headless.store"]
    assert engine_violations(root) == ["slicerweb.engine.headless.store:1 imports slicerweb.engine.slicer.scene",
                                       "slicerweb.engine.headless.store:2 imports quart"]
    assert dev_only_violations(root) == ["slicerweb.cli:1 imports slicerweb.issuer.command",
                                                 "slicerweb.dicomweb:3 imports slicerweb.demo.studies"]
