"""`auth/authorize.py`: the one decision, allowed(principal, action, policy) -> Decision.

Contract: a principal may perform an action when it holds any scope the policy's `[scopes]` table
lists for it; the refusal names those scopes (they become the RFC 6750 `scope=` of the 403); the
local operator (auth off, loopback only) may do everything; `auth.public` opens an action without a
token, and the policy never lets exec, admin or a write be public.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slicerweb.auth.authorize import allowed, is_public
from slicerweb.auth.identity import LOCAL_OPERATOR, Principal
from slicerweb.policy import ACTIONS, Policy, PolicyError

MakePolicy = Callable[..., Policy]


def user(*scopes: str) -> Principal:
    return Principal(subject="alice", scopes=frozenset(scopes))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_the_local_operator_may_do_everything(make_policy: MakePolicy, action: str) -> None:
    decision = allowed(LOCAL_OPERATOR, action, make_policy())
    assert decision.allowed
    assert decision.reason == "local operator (auth off, loopback only)"


@pytest.mark.parametrize(("action", "scope"), [
    ("dicomweb_read", "dicomweb.read"), ("dicomweb_write", "dicomweb.write"), ("slicer_read", "slicer.read"),
    ("slicer_write", "slicer.write"), ("exec", "slicer.exec"), ("admin", "slicerweb.admin"),
    ("static", "slicerweb.static"), ("metrics", "slicerweb.metrics")])
def test_each_action_needs_its_scope(make_policy: MakePolicy, action: str, scope: str) -> None:
    policy = make_policy()
    granted = allowed(user(scope), action, policy)
    assert granted.allowed and granted.reason == f"scope {scope}" and granted.required == (scope,)
    refused = allowed(user("unrelated.scope"), action, policy)
    assert not refused.allowed
    assert refused.reason == f"needs one of the scopes: {scope}"
    assert refused.required == (scope,)


def test_a_scope_for_one_action_grants_no_other(make_policy: MakePolicy) -> None:
    policy = make_policy()
    reader = user("slicer.read", "dicomweb.read")
    assert [a for a in sorted(ACTIONS) if allowed(reader, a, policy).allowed] == ["dicomweb_read", "slicer_read"]
    assert not allowed(user("slicer.write"), "exec", policy).allowed  # writing the scene is not exec
    assert not allowed(user("slicer.exec"), "admin", policy).allowed  # exec is not switching exec on


def test_any_listed_scope_suffices_and_the_refusal_lists_them_all(make_policy: MakePolicy) -> None:
    """A site maps its IdP's group names onto actions in [scopes]; any one of them grants the action."""
    policy = make_policy(**{"scopes.dicomweb_read": ["radiology", "dicomweb.read"]})
    assert allowed(user("radiology"), "dicomweb_read", policy).reason == "scope radiology"
    refused = allowed(user("cardiology"), "dicomweb_read", policy)
    assert not refused.allowed
    assert refused.reason == "needs one of the scopes: radiology dicomweb.read"
    assert refused.required == ("radiology", "dicomweb.read")


def test_no_scopes_means_nothing_is_allowed(make_policy: MakePolicy) -> None:
    policy = make_policy()
    assert not any(allowed(Principal(subject="nobody"), action, policy).allowed for action in ACTIONS)


def test_public_actions_are_the_policys_list(make_policy: MakePolicy) -> None:
    assert not is_public("static", make_policy())  # closed by default
    opened = make_policy(**{"auth.public": ["static"]})
    assert is_public("static", opened)
    assert not is_public("slicer_read", opened)


@pytest.mark.parametrize("action", ["exec", "admin", "dicomweb_write", "slicer_write"])
def test_the_policy_refuses_a_public_privileged_action(make_policy: MakePolicy, action: str) -> None:
    with pytest.raises(PolicyError) as refused:
        make_policy(**{"auth.public": [action]})
    assert "auth.public" in str(refused.value) and action in str(refused.value)
