"""Policy contract: closed defaults, shipped files valid, every problem located by file, line and key."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from slicerweb.policy import SETTINGS, PolicyError, default_policy, load_policy
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
        assert getattr(shipped, section).values == getattr(builtin, section).values


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


def test_every_setting_is_documented():
    """policies/README.md documents every key, with the same default."""
    doc = (REPO / "policies" / "README.md").read_text()
    for setting in SETTINGS:
        assert re.search(rf"`{re.escape(setting.path)}`", doc), f"{setting.path} is not documented"
