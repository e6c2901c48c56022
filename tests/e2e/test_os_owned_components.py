"""Language packages installed by the OS package manager, end to end: scanned, stored with
their owner, listed by DescribeImageComponentList, never matched against the language
advisories — neither by the scan nor by ``imagewarden db rematch`` (which reads the stored
components back without the image)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from tests.e2e.conftest import Server
from tests.e2e.sdk import common, list_images, tcss
from tests.e2e.test_scan_to_api import OS_RELEASE, OSV, run
from tests.testdata.images.build import make_image, write_oci_layout

EGG = "usr/lib/python3/dist-packages/requests-2.28.1.egg-info"
PIP = "usr/local/lib/python3.11/dist-packages/requests-2.28.1.dist-info"
META = "Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\n"
STATUS = (
    "Package: python3-requests\nStatus: install ok installed\nArchitecture: all\n"
    "Source: requests\nVersion: 2.28.1+dfsg-1\n"
)


def test_owned_dist_listed_but_matched_only_through_its_deb(server: Server, tmp_path: Path) -> None:
    account = f"owned-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = server.service.create_key(account)
    image = make_image(
        [
            {
                "etc/os-release": OS_RELEASE,
                "var/lib/dpkg/status": STATUS,
                "var/lib/dpkg/info/python3-requests.list": f"/.\n/{EGG}\n/{EGG}/PKG-INFO\n",
                f"{EGG}/PKG-INFO": META,
            },
            {f"{PIP}/METADATA": META},  # pip install requests==2.28.1: not Debian's
        ]
    )
    layout = write_oci_layout(tmp_path / "app", [("app.example/owned:1.0", image)])
    vulndb = f"sqlite:///{tmp_path / 'advisories.db'}"
    assert run("db", "upgrade", "--db", vulndb, "--key-file", str(tmp_path / "k")).returncode == 0
    # GHSA-j8r2-6x86-q33q: requests >= 2.3.0, < 2.31.0 (Debian patched it in 2.28.1+dfsg-1)
    assert run("db", "import", str(OSV / "ghsa"), "--db", vulndb).returncode == 0
    db = ["--db", server.db_url, "--key-file", str(server.key_file)]
    out = run("images", "scan", f"oci:{layout}", "--account", account, "--vulndb", vulndb, *db)
    assert out.returncode == 0, out.stdout + out.stderr

    def check() -> None:
        row = list_images(tcss(server.endpoint, sid, skey)).List[0]
        assert (row.ComponentCnt, row.VulCnt, row.MediumLevelVulCnt) == (3, 1, 1)
        c = common(server.endpoint, sid, skey)
        comps = c.call_json(
            "DescribeImageComponentList", {"ImageID": image.config_digest, "Limit": 100}
        )["Response"]
        assert sorted((x["Name"], x["Path"], x["VulCount"]) for x in comps["List"]) == [
            ("python3-requests", "var/lib/dpkg/status", 0),
            ("requests", f"{EGG}/PKG-INFO", 0),
            ("requests", f"{PIP}/METADATA", 1),
        ]
        vulns = c.call_json("DescribeAssetImageVulList", {"ImageID": image.config_digest})[
            "Response"
        ]
        assert [v["CVEID"] for v in vulns["List"]] == ["CVE-2023-32681"]

    check()
    shutil.rmtree(layout)  # re-matching never reads the image
    out = run("db", "rematch", "--vulndb", vulndb, "--account", account, *db)
    assert out.returncode == 0 and "re-matched" in out.stdout, out.stdout + out.stderr
    check()
