"""Rate-limit exactness: N requests per action per account in any one-second window.

The limiter takes its clock as a parameter, so the exact cases run on a fake clock; the
real-server test checks only what the limiter's window implies for the times it observed.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import msgspec
import pytest

from imagewarden.api.app import ApiApp, _Raw
from imagewarden.api.ratelimit import SlidingWindowLimiter
from imagewarden.api.signing import tc3_sign_request
from imagewarden.server import build_app, open_runtime
from tests.e2e.conftest import Server
from tests.hardening.proc import post, signed


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_the_21st_request_within_one_second_is_refused() -> None:
    clock = FakeClock()
    lim = SlidingWindowLimiter(clock=clock)
    for i in range(20):
        clock.t = 1000.0 + i * 0.049  # 20 requests spread over 0.931 s
        assert lim.allow(1, "A", 20), i
    clock.t = 1000.999
    assert not lim.allow(1, "A", 20)
    # other actions and other accounts have budgets of their own
    assert lim.allow(1, "B", 20)
    assert lim.allow(2, "A", 20)
    # refusals do not consume budget: at 1001.0 the first request (at 1000.0) leaves the window
    assert not lim.allow(1, "A", 20)
    clock.t = 1001.0
    assert lim.allow(1, "A", 20)
    assert not lim.allow(1, "A", 20)
    # the window slides: each earlier request frees one slot exactly one second later
    clock.t = 1001.049
    assert lim.allow(1, "A", 20)
    assert not lim.allow(1, "A", 20)
    # after a quiet second the whole budget is back
    clock.t = 1003.0
    assert all(lim.allow(1, "A", 20) for _ in range(20))
    assert not lim.allow(1, "A", 20)


def test_limit_zero_means_unlimited_and_window_is_configurable() -> None:
    clock = FakeClock()
    lim = SlidingWindowLimiter(window=2.0, clock=clock)
    assert all(lim.allow(1, "A", 0) for _ in range(1000))
    assert lim.allow(1, "B", 1)
    clock.t += 1.999
    assert not lim.allow(1, "B", 1)
    clock.t += 0.001
    assert lim.allow(1, "B", 1)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> tuple[ApiApp, FakeClock, list[str]]:
    tmp: Path = tmp_path_factory.mktemp("rl")
    rt = open_runtime(f"sqlite:///{tmp / 'rl.db'}", tmp / "k")
    keys = [rt.service.create_key("a")[:2], rt.service.create_key("b")[:2]]
    api = build_app(rt)
    clock = FakeClock()
    api.limiter = SlidingWindowLimiter(clock=clock)
    return api, clock, [k for pair in keys for k in pair]


def _code(api: ApiApp, sid: str, skey: str, action: str) -> str:
    body = b'{"NoSuchParameter": 1}'  # refused after the rate limit, without touching the store
    headers = {
        k.lower(): v
        for k, v in tc3_sign_request(
            secret_id=sid,
            secret_key=skey,
            action=action,
            version="2020-11-01",
            host="h",
            body=body,
        ).items()
    }
    env = msgspec.json.decode(api.handle(_Raw("POST", headers, "", body), "rid"))["Response"]
    return str(env["Error"]["Code"])


def test_every_registered_action_is_limited_per_account_through_the_pipeline(
    app: tuple[ApiApp, FakeClock, list[str]],
) -> None:
    api, clock, (a_sid, a_key, b_sid, b_key) = app
    names = api.registry.names()
    assert len(names) >= 9
    for n, name in enumerate(names):
        clock.t = 5000.0 + 10 * n
        (action,) = api.registry.versions(name).values()  # type: ignore[union-attr]
        limit = action.rate_limit
        assert 0 < limit <= 1000, (name, limit)
        codes = [_code(api, a_sid, a_key, name) for _ in range(limit + 1)]
        assert codes[:limit] == ["UnknownParameter"] * limit, name
        assert codes[limit] == "RequestLimitExceeded", name
        # the same action for another account, another action for this account: not refused
        assert _code(api, b_sid, b_key, name) == "UnknownParameter"
        other = names[(n + 1) % len(names)]
        clock.t += 0.5
        assert _code(api, a_sid, a_key, other) == "UnknownParameter"
        assert _code(api, a_sid, a_key, name) == "RequestLimitExceeded"
        clock.t += 0.5  # one second after the burst: accepted again
        assert _code(api, a_sid, a_key, name) == "UnknownParameter"


def test_tcss_actions_allow_20_per_second(app: tuple[ApiApp, FakeClock, list[str]]) -> None:
    api, _, _ = app
    limits = {
        name: next(iter(api.registry.versions(name).values())).rate_limit  # type: ignore[union-attr]
        for name in api.registry.names()
    }
    # imagewarden's own agent actions (one call per host, or per scanned image, per
    # interval) have a fleet-sized limit; every TCSS action has TCSS's 20/s
    own = {"ReportHostAssets", "ReportImageScanResults"}
    assert {n: limits[n] for n in own} == dict.fromkeys(own, 1000)
    assert {n: v for n, v in limits.items() if n not in own} == dict.fromkeys(
        (n for n in limits if n not in own), 20
    )


def _implied(sent: list[float], done: list[float], codes: list[str]) -> None:
    """Check each answer against what a 20-per-second sliding window allows.

    The server saw request i at some time in [sent[i], done[i]] (sequential, so in order).
    A refusal needs 20 accepted earlier requests that may have been inside its window; an
    acceptance is impossible if 20 accepted earlier requests were certainly inside it.
    """
    for i, code in enumerate(codes):
        ok_before = [j for j in range(i) if codes[j] == "OK"]
        maybe_inside = sum(1 for j in ok_before if done[j] > sent[i] - 1.0)
        surely_inside = sum(1 for j in ok_before if sent[j] > done[i] - 1.0)
        if code == "RequestLimitExceeded":
            assert maybe_inside >= 20, (i, codes)
        else:
            assert code == "OK", code
            assert surely_inside < 20, (i, codes)


def test_real_server_burst_of_25(server: Server) -> None:
    a_sid, a_key, _ = server.new_account()
    b_sid, b_key, _ = server.new_account()
    ep = server.endpoint
    sent: list[float] = []
    done: list[float] = []
    codes: list[str] = []
    with httpx.Client() as c:
        prepared = [
            signed(ep, a_sid, a_key, "DescribeAssetImageList", {"Limit": 1}) for _ in range(25)
        ]
        for headers, body in prepared:
            sent.append(time.monotonic())
            resp = c.post(f"http://{ep}/", headers=headers, content=body)
            done.append(time.monotonic())
            out = resp.json()["Response"]
            codes.append(out["Error"]["Code"] if "Error" in out else "OK")
        assert codes[:20] == ["OK"] * 20  # a fresh account's first 20 are always accepted
        if done[-1] - sent[0] < 1.0:
            # all 25 landed within one second: exactly the last five are refused
            assert codes[20:] == ["RequestLimitExceeded"] * 5, codes
        else:
            _implied(sent, done, codes)
        # neither another action of this account nor this action of another account is refused
        assert "Error" not in post(c, ep, a_sid, a_key, "DescribeAssetImageScanTask")
        assert "Error" not in post(c, ep, b_sid, b_key, "DescribeAssetImageList", {"Limit": 1})
        # once a full second has passed since the last accepted request, the budget is back
        last_ok = max(d for d, code in zip(done, codes, strict=True) if code == "OK")
        time.sleep(max(0.0, last_ok + 1.05 - time.monotonic()))
        assert "Error" not in post(c, ep, a_sid, a_key, "DescribeAssetImageList", {"Limit": 1})
