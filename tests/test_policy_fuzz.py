"""Fuzzing `policy.py`: any policy file ends in a Policy or in one PolicyError naming the file and the
key, never another exception; a policy that loads also builds the app (no setting that validates
and then crashes `create_app`)."""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from slicerweb.app import create_app
from slicerweb.engine.headless import HeadlessEngine
from slicerweb.policy import SETTINGS, Policy, PolicyError, load_policy
from tests.fuzzing import PROFILE_ENV

pytestmark = pytest.mark.fuzz
assert PROFILE_ENV  # importing tests.fuzzing loads the hypothesis profile

SCALARS = st.one_of(st.booleans(), st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                    st.sampled_from(["*", "none", "HS256", "RS256", "http://x", "https://a.b:1", "::1", "10.0.0.0/8",
                                     "0.0.0.0", "", "..", "/etc/passwd", "jwt", "introspection", "strict"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.sampled_from([s.default for s in SETTINGS]))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return str(value)


@st.composite
def policy_texts(draw: st.DrawFn) -> str:
    """Mostly known keys with hostile values, sometimes unknown keys/sections or raw text."""
    settings = draw(st.lists(st.sampled_from(SETTINGS), max_size=6, unique_by=lambda s: s.path))
    sections: dict[str, list[str]] = {}
    for setting in settings:
        sections.setdefault(setting.section, []).append(f"{setting.key} = {_toml(draw(VALUES))}")
    if draw(st.booleans()):
        sections.setdefault(draw(st.sampled_from(["server", "nosuch", "auth"])), []).append(
            f"{draw(st.sampled_from(['unknown_key', 'host', 'x.y']))} = {_toml(draw(VALUES))}")
    text = "".join(f"[{name}]\n" + "".join(line + "\n" for line in lines) for name, lines in sections.items())
    return draw(st.one_of(st.just(text), st.text(max_size=200), st.just(text + draw(st.text(max_size=20)))))


@given(policy_texts())
def test_any_policy_loads_or_names_the_problem(text: str) -> None:
    note(text)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "policy.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            assert str(exc).startswith(str(path)) and exc.hint
            return
        assert isinstance(policy, Policy)
        policy = policy.replace(**{"server.data_dir": str(Path(directory) / "data"), "logging.console": False})
        engine = HeadlessEngine(Path(directory) / "data")
        try:
            create_app(policy, engine)
        finally:
            asyncio.run(engine.close())  # its lease thread must not outlive the directory
