"""The whole loop through the official SDK only, on a server whose embedded worker really
scans: images with planted malware, secrets and risky build steps, and a clean one, are
added, scanned by a CreateAssetImageScanTask, and read back through the list, detail,
virus, risk and component actions.  No secret may appear in any response."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from tencentcloud.tcss.v20201101 import models

from tests.e2e.conftest import Server
from tests.e2e.sdk import list_images, tcss
from tests.e2e.test_scan_to_api import run
from tests.testdata.images.build import make_image, make_layer, write_oci_layout
from tests.testdata.images.planted_secrets import SECRETS, clean_image, secrets_image

# the EICAR anti-malware test string, kept in two halves so this file is not itself flagged
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _wait(client, task_id: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 180
    req = models.DescribeAssetImageScanStatusRequest()
    req.TaskID = task_id
    while client.DescribeAssetImageScanStatus(req).Status != "END":
        assert time.monotonic() < deadline, "the scan task did not finish"
        time.sleep(0.3)


def test_report_scan_and_drill_down_through_the_sdk(server: Server, tmp_path: Path) -> None:
    account = f"loop-{uuid.uuid4().hex[:8]}"
    sid, skey, _ = server.service.create_key(account)
    planted = secrets_image()
    # EICAR in a lower layer of `infected`; the same file deleted by a whiteout in `cured`
    lower = make_layer({"etc/os-release": 'ID=debian\nVERSION_ID="12"\n', "srv/x.com": EICAR})
    infected = make_image([lower], config_extra={"User": "app"})
    cured = make_image([lower, make_layer([("srv/.wh.x.com", b"")])], config_extra={"User": "app"})
    clean = clean_image()
    refs = []
    for name, image in (
        ("planted", planted.image),
        ("infected", infected),
        ("cured", cured),
        ("clean", clean),
    ):
        layout = write_oci_layout(tmp_path / name, [(f"{name}:1", image)])
        refs.append(f"oci:{layout}")
    added = run(
        "images",
        "add",
        *refs,
        "--account",
        account,
        "--db",
        server.db_url,
        "--key-file",
        str(server.key_file),
    )
    assert added.returncode == 0, added.stdout + added.stderr

    client = tcss(server.endpoint, sid, skey)
    create = models.CreateAssetImageScanTaskRequest()
    create.All = True
    create.ScanVul = create.ScanVirus = create.ScanRisk = True
    _wait(client, client.CreateAssetImageScanTask(create).TaskID)

    rows = {i.ImageID: i for i in list_images(client).List}
    assert {r.ScanStatus for r in rows.values()} == {"SCANNED"}
    by = {
        "planted": rows[planted.image.config_digest],
        "infected": rows[infected.config_digest],
        "cured": rows[cured.config_digest],
        "clean": rows[clean.config_digest],
    }
    assert (by["infected"].VirusCnt, by["cured"].VirusCnt, by["clean"].VirusCnt) == (1, 0, 0)
    assert by["planted"].VirusCnt == 0 and by["planted"].RiskCnt > 0
    assert (by["clean"].RiskCnt, by["cured"].RiskCnt) == (0, 0)

    viruses = models.DescribeAssetImageVirusListRequest()
    viruses.ImageID = infected.config_digest
    vl = client.DescribeAssetImageVirusList(viruses)
    assert vl.TotalCount == 1 and vl.VirusScanStatus == 2
    hit = vl.List[0]
    assert (hit.Path, hit.FileName, hit.Size) == ("/srv/x.com", "x.com", len(EICAR))
    assert "EICAR" in hit.VirusName and hit.Md5

    risks = models.DescribeAssetImageRiskListRequest()
    risks.ImageID = planted.image.config_digest
    risks.Limit = 100
    rl = client.DescribeAssetImageRiskList(risks)
    assert rl.TotalCount == by["planted"].RiskCnt == len(rl.List)
    wire = json.dumps([r._serialize() for r in rl.List])
    assert "/app/.env" in wire and "/root/.ssh/id_ed25519" in wire

    detail = models.DescribeAssetImageDetailRequest()
    detail.ImageID = planted.image.config_digest
    d = client.DescribeAssetImageDetail(detail)
    assert d.SensitiveInfoCnt >= 4 and d.ScanRiskError == "" and d.ScanVirusError == ""

    # nothing any action returned holds a planted secret
    everything = [
        json.dumps(r._serialize())
        for r in (
            *list_images(client).List,
            *rl.List,
            d,
        )
    ]
    for secret in SECRETS:
        assert all(secret not in text for text in everything), "a secret leaked"
