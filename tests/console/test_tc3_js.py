"""The browser's TC3 signer (tc3.js) agrees with the server's (api/signing.py), run under Node.js."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from imagewarden.api.signing import tc3_sign_request

NODE = shutil.which("node")
TC3_JS = resources.files("imagewarden.console").joinpath("static", "tc3.js")

CASES = [
    (
        "AKIDexample",
        "secret",
        "DescribeAssetImageList",
        "127.0.0.1:8080",
        '{"Limit":20}',
        1700000000,
    ),
    (
        "AKIDother",
        "k€y-ünïcode",
        "ReportHostAssets",
        "console.example:443",
        '{"Name":"日本"}',
        1704067199,
    ),
    ("AKID", "s", "DescribeAssetImageList", "Example.COM", "", 1704067200),
]


@pytest.mark.skipif(NODE is None, reason="Node.js (node) is not installed")
@pytest.mark.parametrize(("sid", "skey", "action", "host", "body", "ts"), CASES)
def test_js_signature_matches_python(
    sid: str, skey: str, action: str, host: str, body: str, ts: int
) -> None:
    script = f"""
      const {{ signRequest }} = await import({json.dumps(Path(str(TC3_JS)).as_uri())});
      const headers = await signRequest({
        json.dumps(
            {
                "secretId": sid,
                "secretKey": skey,
                "action": action,
                "version": "2020-11-01",
                "host": host,
                "body": body,
                "timestamp": ts,
            }
        )
    });
      process.stdout.write(JSON.stringify(headers));
    """
    out = subprocess.run(
        [NODE, "--input-type=module", "-e", script], capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    want = tc3_sign_request(
        secret_id=sid,
        secret_key=skey,
        action=action,
        version="2020-11-01",
        host=host.lower(),
        body=body.encode(),
        timestamp=ts,
        language="en-US",
    )
    want.pop("Host")  # the browser sets Host itself (location.host)
    assert got == want
