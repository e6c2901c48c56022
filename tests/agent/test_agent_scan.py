"""``imagewarden agent --scan`` as a process against a real server: the agent reads images
from ``dir:``, scans them itself, and the results (matched by the server's own vulnerability
database) show through the official SDK; an image it cannot read shows ``AgentError``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.agent.conftest import Account, run_agent
from tests.e2e.sdk import common
from tests.testdata.images.build import make_image, write_oci_layout
from tests.testdata.images.planted_secrets import AWS_KEY_ID, AWS_SECRET

OSV = Path(__file__).parents[1] / "testdata" / "osv"
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n'
STATUS = (
    "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n"
    "Version: 3.0.11-1~deb12u1\n\n"
    "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\n"
    "Version: 1:1.2.13.dfsg-1\n"
)
URLLIB3 = "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.16\n"
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
ENV_FILE = f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n"


def _call(acct: Account, action: str, params: dict[str, Any]) -> dict[str, Any]:
    acct.pacer.wait()
    client = common(acct.server.endpoint, acct.secret_id, acct.secret_key)
    out: dict[str, Any] = client.call_json(action, params)["Response"]
    return out


def test_agent_scan_reports_results_and_agent_errors(tmp_path: Path, account: Account) -> None:
    imported = subprocess.run(
        [sys.executable, "-m", "imagewarden", "db", "import", str(OSV), "--db",
         account.server.db_url],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stdout + imported.stderr

    root = tmp_path / "mirror"
    app = make_image(
        [
            {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS},
            {
                "usr/lib/python3/dist-packages/urllib3-1.26.16.dist-info/METADATA": URLLIB3,
                "opt/app/eicar.com": EICAR,
                "app/.env": ENV_FILE,
            },
        ],
        created="2024-05-01T00:00:00Z",
    )
    older = make_image([{"etc/os-release": OS_RELEASE}], created="2023-01-01T00:00:00Z")
    broken = make_image([{"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS}])
    write_oci_layout(root / "shop", [("shop/app:2", app), ("shop/app:1", older)])
    bad_dir = write_oci_layout(root / "bad", [("bad/img:1", broken)])
    blob = bad_dir / "blobs" / "sha256" / broken.layers[0].digest.split(":", 1)[1]
    blob.write_bytes(blob.read_bytes()[:-40])  # only the layer is damaged: listing still works

    state = tmp_path / "state"
    done = run_agent(account, state, "--source", f"dir:{root}", "--scan")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "scanned 2 image(s), 1 unreadable" in done.stdout, done.stdout

    rows = account.images()
    assert set(rows) == {app.config_digest, older.config_digest, broken.config_digest}
    got = rows[app.config_digest]
    assert got["ScanStatus"] == "SCANNED" and got["OsName"] == "debian:12"
    # the server matched the agent's components: DSA-5532-1 (openssl, via the Source field)
    # and GHSA-v845-jxx5-vc9f (urllib3); the agent has no advisory database
    assert got["VulCnt"] == 2 and got["MediumLevelVulCnt"] == 1 and got["ComponentCnt"] == 3
    assert got["VirusCnt"] >= 1 and got["RiskCnt"] >= 1 and got["AgentError"] == ""
    assert got["IsLatestImage"] is True and rows[older.config_digest]["IsLatestImage"] is False
    assert rows[older.config_digest]["ScanStatus"] == "SCANNED"
    bad = rows[broken.config_digest]
    assert bad["AgentError"] and bad["ScanStatus"] == "NOT_SCAN" and bad["VulCnt"] == 0

    vulns = _call(account, "DescribeAssetImageVulList", {"ImageID": app.config_digest})
    assert {v["CVEID"] for v in vulns["List"]} == {"CVE-2023-5363", "CVE-2023-43804"}
    viruses = _call(account, "DescribeAssetImageVirusList", {"ImageID": app.config_digest})
    assert "/opt/app/eicar.com" in {v["Path"] for v in viruses["List"]}
    risks = _call(account, "DescribeAssetImageRiskList", {"ImageID": app.config_digest})
    assert risks["TotalCount"] >= 1
    everything = json.dumps([rows, vulns, viruses, risks])
    assert AWS_SECRET not in everything and AWS_KEY_ID not in everything  # redacted at source

    # a second run scans nothing again (content-addressed) and changes nothing
    again = run_agent(account, state, "--source", f"dir:{root}", "--scan")
    assert (
        again.returncode == 0
        and "scanned 0 image(s), 0 unreadable (AgentError), 3 already" in again.stdout
    )
    assert account.images() == rows
