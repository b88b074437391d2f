"""Policy contract: closed defaults, shipped files valid, every problem located by file, line and key."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path
from typing import get_type_hints

import pytest
from mypy import api as mypy_api

from slicerweb.policy import (
    SECTIONS,
    SETTINGS,
    Policy,
    PolicyError,
    Setting,
    default_policy,
    documented_keys,
    load_policy,
)
from slicerweb.policy_sections import SECTION_TYPES
from tests.conftest import REPO, subprocess_env


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def test_defaults_are_closed():
    policy = default_policy()
    assert policy.server.host == "127.0.0.1"
    assert policy.server.port == 2016
    assert policy.features.exec is False
    assert policy.features.cors is False
    assert policy.features.dicomweb_write is False
    assert policy.features.exec_get_source is False
    assert policy.auth.mode == "none"
    assert policy.is_loopback_only


@pytest.mark.parametrize("name", ["default.toml", "lan.toml", "dev.toml"])
def test_shipped_policies_load(name):
    policy = load_policy(REPO / "policies" / name)
    assert policy.features.exec is False


def test_default_file_equals_builtin_defaults():
    shipped = load_policy(REPO / "policies" / "default.toml")
    builtin = default_policy()
    for section in ("server", "features", "cors", "limits", "auth", "scopes"):
        assert getattr(shipped, section) == getattr(builtin, section)


def test_unknown_key_names_file_line_and_key(tmp_path):
    path = write(tmp_path, '[server]\nhost = "127.0.0.1"\n\n[features]\nexecc = true\n')
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.line == 5
    assert info.value.key == "features.execc"
    assert str(info.value).startswith(f"{path}:5: features.execc")
    assert "known keys in [features]" in str(info.value)


def test_wrong_type_is_refused_with_an_example(tmp_path):
    path = write(tmp_path, '[server]\nport = "2016"\n')
    with pytest.raises(PolicyError, match=r"site.toml:2: server.port = '2016': must be an integer, e.g. port = 2016"):
        load_policy(path)


def test_boolean_is_not_an_integer(tmp_path):
    with pytest.raises(PolicyError, match=r"server\.port"):
        load_policy(write(tmp_path, "[server]\nport = true\n"))


def test_syntax_error_names_the_line(tmp_path):
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, '[server]\nhost = "127.0.0.1"\nport = = 3\n'))
    assert info.value.line == 3


def test_unknown_section(tmp_path):
    with pytest.raises(PolicyError, match=r"site.toml:1: serve: unknown section"):
        load_policy(write(tmp_path, "[serve]\nport = 1\n"))


def test_wildcard_origin_never_with_credentials(tmp_path):
    path = write(tmp_path, '[cors]\nallow_origins = ["*"]\nallow_credentials = true\n')
    with pytest.raises(PolicyError, match=r"site.toml:2: cors.allow_origins = '\*'.*cannot be combined"):
        load_policy(path)


def test_origin_must_be_an_origin(tmp_path):
    with pytest.raises(PolicyError, match="scheme://host"):
        load_policy(write(tmp_path, '[cors]\nallow_origins = ["https://viewer.lan/"]\n'))


def test_non_loopback_bind_without_auth_is_refused(tmp_path):
    with pytest.raises(PolicyError, match="without authentication is refused"):
        load_policy(write(tmp_path, '[server]\nhost = "0.0.0.0"\n'))


def test_symmetric_algorithms_are_refused(tmp_path):
    with pytest.raises(PolicyError, match="only asymmetric"):
        load_policy(write(tmp_path, '[auth]\nalgorithms = ["RS256", "HS256"]\n'))


def test_writes_cannot_be_public(tmp_path):
    with pytest.raises(PolicyError, match="only read actions"):
        load_policy(write(tmp_path, '[auth]\npublic = ["exec"]\n'))


@pytest.mark.parametrize(("value", "problem"), [("0", "must be at least 1"), ("65", "must be at most 64"),
                                                ('"2"', "must be an integer")])
def test_workers_is_an_integer_from_1_to_64(tmp_path, value, problem):
    path = write(tmp_path, f"[server]\nworkers = {value}\n")
    with pytest.raises(PolicyError, match=f"{path}:2: server.workers = .*: {problem}"):
        load_policy(path)
    assert load_policy(write(tmp_path, "[server]\nworkers = 64\n")).server.workers == 64
    assert default_policy().server.workers == 1


def test_serve_workers_option_is_checked_like_the_key(tmp_path):
    result = subprocess.run([sys.executable, "-m", "slicerweb", "serve", "--workers", "0", "--port", "0",
                             "--data-dir", str(tmp_path / "data")],
                            capture_output=True, text=True, env=subprocess_env(), timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "slicerweb: <defaults> (overridden): server.workers = 0: must be at least 1"]


def test_check_policy_cli_prints_the_located_error_and_exits_2(tmp_path):
    path = write(tmp_path, "[limits]\nmax_body_bytes = -1\n")
    result = subprocess.run([sys.executable, "-m", "slicerweb", "check-policy", str(path)],
                            capture_output=True, text=True, env=subprocess_env())
    assert result.returncode == 2
    assert f"{path}:2: limits.max_body_bytes = -1: must be at least 0" in result.stderr


def test_serve_refuses_a_bad_policy(tmp_path):
    path = write(tmp_path, "[features]\nexec = 1\n")
    result = subprocess.run([sys.executable, "-m", "slicerweb", "serve", "--policy", str(path), "--port", "0"],
                            capture_output=True, text=True, env=subprocess_env(), timeout=30)
    assert result.returncode == 2
    assert "features.exec = 1: must be true or false" in result.stderr


def test_wrong_type_names_the_key_and_the_value(tmp_path):
    path = write(tmp_path, '[limits]\nbody_timeout = "x"\n')
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert (info.value.key, info.value.value, info.value.line) == ("limits.body_timeout", "x", 2)
    assert str(info.value) == f"{path}:2: limits.body_timeout = 'x': must be an integer, e.g. body_timeout = 600"


def test_list_items_must_be_strings(tmp_path):
    with pytest.raises(PolicyError, match=r"site.toml:2: server.trusted_proxies = \[1\]: item \[0\] must be a string"):
        load_policy(write(tmp_path, "[server]\ntrusted_proxies = [1]\n"))


def test_closed_choices_come_from_the_field_type(tmp_path):
    with pytest.raises(PolicyError, match=r"auth.mode = 'basic': must be one of 'none', 'jwt', 'introspection'"):
        load_policy(write(tmp_path, '[auth]\nmode = "basic"\n'))


def test_sections_are_typed_and_frozen(tmp_path):
    policy = load_policy(write(tmp_path, '[limits]\nbody_timeout = 30\n[cors]\nallow_headers = ["Accept"]\n'))
    assert policy.limits.body_timeout == 30 and type(policy.limits.body_timeout) is int
    assert policy.cors.allow_headers == ("Accept",)  # lists are held as tuples: the policy stays immutable
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.limits.body_timeout = 1  # type: ignore[misc]  # the point: assignment is refused at runtime too
    with pytest.raises(AttributeError):
        _ = policy.limits.body_timout  # type: ignore[attr-defined]  # the typo this test is about


def test_policy_sections_match_the_declared_section_types():
    """Policy's typed attributes and the loader's section table name the same classes (one per TOML table)."""
    hints = get_type_hints(Policy)
    assert {name: hints[name] for name in SECTIONS} == SECTION_TYPES
    assert [f.name for f in dataclasses.fields(Policy)] == ["source", *SECTIONS]


def test_replace_validates_like_the_file():
    policy = default_policy().replace(**{"limits.body_timeout": 5, "server.allowed_hosts": ["a.lan"]})
    assert (policy.limits.body_timeout, policy.server.allowed_hosts) == (5, ("a.lan",))
    with pytest.raises(PolicyError, match=r"limits.body_timeout = '5': must be an integer"):
        default_policy().replace(**{"limits.body_timeout": "5"})


def test_mypy_reports_a_typo_in_a_policy_key(tmp_path):
    """The point of typed sections: a misspelt key is an error before the code runs, not an AttributeError."""
    code = tmp_path / "uses_policy.py"
    code.write_text("from slicerweb.policy import default_policy\n"
                    "timeout: int = default_policy().limits.body_timeout\n"
                    "typo = default_policy().limits.body_timout\n")
    # The repository's cache: warm after `make lint`/`make test` ran mypy, so this takes a second, not fifteen.
    config = ["--config-file", str(REPO / "pyproject.toml"), "--cache-dir", str(REPO / ".mypy_cache")]
    out, _, status = mypy_api.run([*config, str(code)])
    assert status == 1
    assert 'uses_policy.py:3: error: "LimitsSection" has no attribute "body_timout"' in out
    assert "uses_policy.py:2" not in out  # the correct key is an int to mypy


def _readme_row(setting: Setting) -> str:
    """The row policies/README.md shows for `setting`, rendered from the dataclass field."""
    kind = {bool: "bool", int: "int", str: "string", list: "list of strings"}[setting.type]
    default = setting.default
    if isinstance(default, bool):
        shown = "true" if default else "false"
    elif isinstance(default, tuple):
        shown = "[" + ", ".join(f'"{item}"' for item in default) + "]"
    else:
        shown = f'"{default}"' if isinstance(default, str) else str(default)
    choices = " One of: " + ", ".join(f"`{c}`" for c in setting.choices) + "." if setting.choices else ""
    return f"| `{setting.path}` | {kind} | `{shown}` | {setting.help}{choices} |"


def test_every_setting_is_documented():
    """policies/README.md lists exactly the declared keys, each with the type, default and help of its field."""
    doc = (REPO / "policies" / "README.md").read_text()
    sections = "|".join(SECTIONS)
    rows = re.findall(rf"^\| `((?:{sections})\.[a-z_]+)` \|.*$", doc, re.MULTILINE)
    assert rows == list(documented_keys())
    for setting in SETTINGS:
        assert _readme_row(setting) in doc.splitlines(), f"{setting.path}: README row differs from the field"
