"""Scanner → inventory → API: a real image file scanned against imported OSV records, then
listed through the official SDK with the counts the scan produced."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from cvss import CVSS3

from tests.e2e.conftest import Server
from tests.e2e.sdk import list_images, tcss
from tests.testdata.images.build import make_image, write_oci_layout

OSV = Path(__file__).parents[1] / "testdata" / "osv"

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
STATUS = (
    "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n"
    "Version: 3.0.11-1~deb12u1\n\n"
    "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\n"
    "Version: 1:1.2.13.dfsg-1\n"
)
URLLIB3 = "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.16\n"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imagewarden", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_scan_results_reach_describe_asset_image_list(server: Server, tmp_path: Path) -> None:
    account = f"scan-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = server.service.create_key(account)
    image = make_image(
        [
            {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS},
            {"usr/lib/python3/dist-packages/urllib3-1.26.16.dist-info/METADATA": URLLIB3},
        ]
    )
    layout = write_oci_layout(tmp_path / "app", [("app.example/web:1.0", image)])
    db = ["--db", server.db_url, "--key-file", str(server.key_file)]

    imported = run("db", "import", str(OSV), "--db", server.db_url)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    scanned = run("images", "scan", f"oci:{layout}", "--account", account, *db)
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr

    info = list_images(tcss(server.endpoint, sid, skey), Limit=10).List
    assert len(info) == 1
    row = info[0]
    assert row.ImageID == image.config_digest and row.ScanStatus == "SCANNED"
    assert row.OsName == "debian:12" and row.ComponentCnt == 3 and row.ScanTime.endswith("Z")
    # DSA-5532-1 (openssl, fixed in 3.0.11-1~deb12u2, matched through the Source field) and
    # GHSA-v845-jxx5-vc9f (urllib3 < 1.26.17, CVSS 3.1 base 5.9 → medium)
    assert row.VulCnt == 2 and row.MediumLevelVulCnt == 1 and row.RecommendedFix is True
    assert (row.HostCnt, row.ContainerCnt) == (0, 0)  # known from its bytes, no host reports it yet
    assert row.ScanError == "" and row.ScanVulError == ""
    found = list_images(
        tcss(server.endpoint, sid, skey),
        Filters=[{"Name": "SecurityRisk", "Values": ["MediumLevelVul"]}],
    )
    assert found.TotalCount == 1


def test_a_broken_image_is_a_per_image_scan_error(server: Server, tmp_path: Path) -> None:
    account = f"scan-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = server.service.create_key(account)
    good = make_image([{"etc/os-release": OS_RELEASE}])
    bad = make_image([{"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS}])
    good_dir = write_oci_layout(tmp_path / "good", [("good:1", good)])
    bad_dir = write_oci_layout(tmp_path / "bad", [("bad:1", bad)])
    blob = bad_dir / "blobs" / "sha256" / bad.layers[0].digest.split(":", 1)[1]
    blob.write_bytes(blob.read_bytes()[:-40])  # truncated layer
    db = ["--db", server.db_url, "--key-file", str(server.key_file)]

    out = run("images", "scan", f"oci:{good_dir}", f"oci:{bad_dir}", "--account", account, *db)
    assert out.returncode == 1, out.stdout + out.stderr
    rows = {i.ImageID: i for i in list_images(tcss(server.endpoint, sid, skey)).List}
    assert rows[good.config_digest].ScanStatus == "SCANNED"
    broken = rows[bad.config_digest]
    assert broken.ScanStatus == "SCAN_ERR" and broken.ScanError and broken.ComponentCnt == 0


def test_drill_downs_of_a_scanned_image(server: Server, tmp_path: Path) -> None:
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    from tests.e2e.sdk import common, report

    account = f"drill-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = server.service.create_key(account)
    image = make_image(
        [
            {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS},
            {"usr/lib/python3/dist-packages/urllib3-1.26.16.dist-info/METADATA": URLLIB3},
        ]
    )
    layout = write_oci_layout(tmp_path / "app", [("app.example/web:1.0", image)])
    assert run("db", "import", str(OSV), "--db", server.db_url).returncode == 0
    out = run(
        "images",
        "scan",
        f"oci:{layout}",
        "--account",
        account,
        "--db",
        server.db_url,
        "--key-file",
        str(server.key_file),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    c = common(server.endpoint, sid, skey)
    report(
        c,
        {"HostID": "node-7"},
        [{"ImageID": image.config_digest, "RepoTags": ["app.example/web:1.0"]}],
    )

    vulns = c.call_json(
        "DescribeAssetImageVulList",
        {"ImageID": image.config_digest, "By": "CVSSV3Score", "Order": "desc"},
    )["Response"]
    assert vulns["TotalCount"] == 2
    by_cve = {v["CVEID"]: v for v in vulns["List"]}
    assert set(by_cve) == {"CVE-2023-5363", "CVE-2023-43804"}
    urllib3 = by_cve["CVE-2023-43804"]
    assert (urllib3["Component"], urllib3["Version"], urllib3["Level"]) == ("urllib3", "1.26.16", 2)
    assert urllib3["FixedVersions"] == "1.26.17" and urllib3["Tag"] == ["CanBeFixed"]
    assert (
        urllib3["CVSSV3Desc"].startswith("CVSS:3.1/")
        and abs(urllib3["CVSSV3Score"] - float(CVSS3(urllib3["CVSSV3Desc"]).base_score)) < 0.05
    )
    assert (
        vulns["List"][0]["CVEID"] == "CVE-2023-43804"
    )  # the only scored one sorts first, descending
    ssl = by_cve["CVE-2023-5363"]
    assert ssl["Component"] == "libssl3" and ssl["FixedVersions"] == "3.0.11-1~deb12u2"
    medium = c.call_json(
        "DescribeAssetImageVulList",
        {"ImageID": image.config_digest, "Filters": [{"Name": "Level", "Values": ["MEDIUM"]}]},
    )["Response"]
    assert [v["CVEID"] for v in medium["List"]] == ["CVE-2023-43804"]

    comps = c.call_json(
        "DescribeImageComponentList", {"ImageID": image.config_digest, "Limit": 100}
    )["Response"]
    assert comps["TotalCount"] == 3
    assert {(x["Name"], x["VulCount"]) for x in comps["List"]} == {
        ("libssl3", 1),
        ("zlib1g", 0),
        ("urllib3", 1),
    }
    vulnerable = c.call_json(
        "DescribeImageComponentList",
        {"ImageID": image.config_digest, "Filters": [{"Name": "HasVul", "Values": ["true"]}]},
    )["Response"]
    assert vulnerable["TotalCount"] == 2

    hosts = c.call_json(
        "DescribeAssetImageHostList",
        {"Filters": [{"Name": "ImageID", "Values": [image.config_digest]}]},
    )["Response"]
    assert (
        hosts["List"] == [{"ImageID": image.config_digest, "HostID": "node-7"}]
        and hosts["TotalCount"] == 1
    )

    for body, code in (
        ({"ImageID": "sha256:" + "0" * 64}, "ResourceNotFound"),
        ({}, "MissingParameter"),
        ({"ImageID": image.config_digest, "By": "Colour"}, "InvalidParameterValue"),
    ):
        try:
            c.call_json("DescribeAssetImageVulList", body)
        except TencentCloudSDKException as exc:
            assert exc.code == code, (body, exc.code)
        else:
            raise AssertionError(f"{body} was accepted")


def test_rematch_after_a_database_update(server: Server, tmp_path: Path) -> None:
    """Scan with only the Debian advisories known, import the GHSA ones, re-match: the
    urllib3 finding appears without the image being read again (its layout is deleted)."""
    import shutil

    account = f"rematch-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = server.service.create_key(account)
    image = make_image(
        [
            {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS},
            {"usr/lib/python3/dist-packages/urllib3-1.26.16.dist-info/METADATA": URLLIB3},
        ]
    )
    layout = write_oci_layout(tmp_path / "app", [("app.example/web:2.0", image)])
    fresh_db = f"sqlite:///{tmp_path / 'advisories.db'}"
    assert run("db", "upgrade", "--db", fresh_db, "--key-file", str(tmp_path / "k")).returncode == 0
    assert run("db", "import", str(OSV / "debian"), "--db", fresh_db).returncode == 0
    db = ["--db", server.db_url, "--key-file", str(server.key_file)]
    out = run("images", "scan", f"oci:{layout}", "--account", account, "--vulndb", fresh_db, *db)
    assert out.returncode == 0, out.stdout + out.stderr
    before = list_images(tcss(server.endpoint, sid, skey)).List[0]
    assert before.VulCnt == 1 and before.MediumLevelVulCnt == 0

    shutil.rmtree(layout)  # re-matching never reads the image
    assert run("db", "import", str(OSV / "ghsa"), "--db", fresh_db).returncode == 0
    out = run("db", "rematch", "--vulndb", fresh_db, "--account", account, *db)
    assert out.returncode == 0 and "re-matched" in out.stdout, out.stdout + out.stderr
    after = list_images(tcss(server.endpoint, sid, skey)).List[0]
    assert after.VulCnt == 2 and after.MediumLevelVulCnt == 1 and after.ComponentCnt == 3
    assert after.ScanTime >= before.ScanTime and after.ScanStatus == "SCANNED"
