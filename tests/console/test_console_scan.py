"""Scans from the console, for real: the server's embedded worker scans image files (OCI
layouts registered with ``imagewarden images add``) or a loopback registry whose layer blobs
the test holds back, while the page follows the task's progress and can stop it."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tcss.v20201101 import models

from tests.e2e.conftest import Server
from tests.e2e.sdk import tcss
from tests.e2e.test_scan_to_api import OS_RELEASE, run
from tests.testdata.images.build import OCI_MANIFEST, Image, make_image, write_oci_layout

pytestmark = pytest.mark.slow

SCAN_TIMEOUT_MS = 120_000  # a wait limit for the worker, not a timing assertion
TASK_ID = re.compile(r"^imagewarden-scan-[0-9a-f]{32}$")


def dpkg_status(packages: list[tuple[str, str]]) -> str:
    return "\n".join(
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {ver}\n"
        for name, ver in packages
    )


@dataclass
class Account:
    server: Server
    name: str
    secret_id: str
    secret_key: str
    account_id: int

    @property
    def base(self) -> str:
        return f"http://{self.server.endpoint}"

    def sdk(self) -> Any:
        return tcss(self.server.endpoint, self.secret_id, self.secret_key)

    def add_images(self, *refs: str) -> None:
        """``imagewarden images add`` against the server's database, as an operator would."""
        out = run(
            "images",
            "add",
            *refs,
            "--account",
            self.name,
            "--db",
            self.server.db_url,
            "--key-file",
            str(self.server.key_file),
        )
        assert out.returncode == 0, out.stdout + out.stderr


def new_account(server: Server, prefix: str) -> Account:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    sid, skey, account_id = server.service.create_key(name)
    return Account(server, name, sid, skey, account_id)


def sign_in(page: Page, acct: Account) -> None:
    page.goto(f"{acct.base}/console")
    page.get_by_label("SecretId").fill(acct.secret_id)
    page.get_by_label("SecretKey").fill(acct.secret_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#app-view")).to_be_visible()


def row(page: Page, name: str) -> Any:
    return page.locator("#rows tr", has=page.get_by_role("button", name=name, exact=True))


def cell(page: Page, name: str, key: str) -> Any:
    """The cell of column ``key`` (a header's data-key) in the row of image ``name``."""
    keys = page.locator("#head-row th").evaluate_all("(ths) => ths.map((th) => th.dataset.key)")
    return row(page, name).locator("th, td").nth(keys.index(key))


def screenshot(page: Page, path: Path) -> None:
    """A wider window, the table scrolled to its right end (names stay: sticky column), so the
    scan columns are in the picture."""
    page.set_viewport_size({"width": 1680, "height": 900})
    page.locator(".table-wrap").evaluate("(el) => { el.scrollLeft = el.scrollWidth; }")
    page.screenshot(path=str(path))


def api_rows(acct: Account) -> dict[str, Any]:
    """ImagesInfo by name, from the API the page uses (the official SDK)."""
    req = models.DescribeAssetImageListRequest()
    req.Limit = 100
    return {i.ImageName: i for i in acct.sdk().DescribeAssetImageList(req).List}


# --- "Scan selected" over OCI layouts ---------------------------------------------------------

# name -> the dpkg packages inside: the component counts a real scan must find
LAYOUT_IMAGES = {
    "scan/alpha:1": [("libssl3", "3.0.11-1~deb12u1"), ("zlib1g", "1:1.2.13.dfsg-1")],
    "scan/bravo:2": [("curl", "7.88.1-10"), ("libcurl4", "7.88.1-10"), ("tzdata", "2024a-0")],
    "scan/charlie:3": [("bash", "5.2.15-2")],
}


@pytest.fixture(scope="module")
def layout_account(seeded: Any, tmp_path_factory: pytest.TempPathFactory) -> Account:
    # `seeded` first: the console's other tests expect their account's data untouched by ours
    acct = new_account(seeded.server, "console-scan")
    tmp = tmp_path_factory.mktemp("scan-layouts")
    refs = []
    for n, (name, packages) in enumerate(LAYOUT_IMAGES.items()):
        image = make_image(
            [{"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": dpkg_status(packages)}],
            created=f"2024-05-0{n + 1}T10:00:00Z",
            # a non-root user: nothing for the risk detector, so "0 with findings" is exact
            config_extra={"User": "app"},
        )
        refs.append(f"oci:{write_oci_layout(tmp / f'img{n}', [(name, image)])}")
    acct.add_images(*refs)
    assert set(api_rows(acct)) == set(LAYOUT_IMAGES)
    return acct


def test_scan_selected_runs_to_the_end(page: Page, layout_account: Account, shots: Path) -> None:
    acct = layout_account
    sign_in(page, acct)
    chosen = ["scan/alpha:1", "scan/bravo:2"]
    for name in LAYOUT_IMAGES:
        expect(cell(page, name, "ScanStatus")).to_have_text("Not scanned")
        expect(cell(page, name, "ComponentCnt")).to_have_text("–")
    scan_selected = page.get_by_role("button", name="Scan selected")
    expect(scan_selected).to_be_disabled()
    for name in chosen:
        page.get_by_role("checkbox", name=f"Select {name}").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    expect(
        page.get_by_role("checkbox", name="Select every image on this page")
    ).to_have_js_property("indeterminate", True)
    scan_selected.click()

    box = page.locator("#scan-progress")
    expect(box).to_be_visible()
    expect(page.locator("#scan-task")).to_have_text(TASK_ID)
    expect(box).to_have_attribute("data-status", "END", timeout=SCAN_TIMEOUT_MS)
    expect(box).to_have_attribute("data-result", "Success")
    expect(page.locator("#scan-title-text")).to_have_text("Scan finished")
    expect(page.locator("#scan-text")).to_have_text("2 of 2 images · 100% · 0 with findings")
    expect(page.locator("#scan-bar")).to_have_js_property("value", 100)
    expect(page.get_by_role("button", name="Stop", exact=True)).to_be_hidden()
    expect(scan_selected).to_be_disabled()  # the selection was used up
    expect(page.get_by_role("button", name="Scan all")).to_be_enabled()

    # the table was reloaded: what the real scan found, as the API reports it
    rows = api_rows(acct)
    for name, packages in LAYOUT_IMAGES.items():
        if name in chosen:
            assert rows[name].ScanStatus == "SCANNED"
            assert rows[name].ComponentCnt == len(packages)
            expect(cell(page, name, "ScanStatus")).to_have_text("Scanned")
            expect(cell(page, name, "ComponentCnt")).to_have_text(str(len(packages)))
        else:
            assert rows[name].ScanStatus == "NOT_SCAN"
            expect(cell(page, name, "ScanStatus")).to_have_text("Not scanned")
    screenshot(page, shots / "console-scan-done.png")

    # the task as tccli would see it
    summary = acct.sdk().DescribeAssetImageScanTask(models.DescribeAssetImageScanTaskRequest())
    assert (summary.Status, summary.SubStatus) == ("END", "Success")
    expect(page.locator("#scan-task")).to_have_text(summary.TaskID)

    # the components tab of a scanned image lists what is in the image
    page.get_by_role("button", name="scan/bravo:2", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Components").click()
    names = dialog.locator("#panel-components tbody th[data-field=Name]")
    expect(names).to_have_text(sorted(p for p, _ in LAYOUT_IMAGES["scan/bravo:2"]))


def test_scan_buttons_are_keyboard_accessible(page: Page, layout_account: Account) -> None:
    sign_in(page, layout_account)
    box = page.get_by_role("checkbox", name="Select scan/charlie:3")
    box.focus()
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#rows input.select").nth(0)).to_be_focused()
    page.get_by_role("button", name="Clear selection").click()
    expect(box).not_to_be_checked()
    expect(page.get_by_role("button", name="Scan selected")).to_be_disabled()
    for label in ("vulnerabilities", "viruses", "risks"):
        expect(
            page.get_by_role("group", name="Scan for").get_by_label(label, exact=True)
        ).to_be_checked()
    # nothing ticked: the page says so instead of sending a request the server would refuse
    for label in ("vulnerabilities", "viruses", "risks"):
        page.get_by_role("group", name="Scan for").get_by_label(label, exact=True).uncheck()
    page.get_by_role("button", name="Scan all").click()
    expect(page.locator("#error")).to_contain_text("tick at least one")
    expect(page.locator("#scan-progress")).to_be_hidden()


# --- "Scan all" and "Stop" over a registry that holds back layer blobs ------------------------


@dataclass
class GatedRegistry:
    """A minimal pull-only registry on 127.0.0.1: manifests and config blobs are served at
    once; the first ``allowed`` layer-blob downloads too, later ones wait for ``release``."""

    images: dict[str, Image] = field(default_factory=dict)  # "repo:tag" -> image
    allowed: int = 0
    armed: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    layer_gets: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def blobs(self) -> dict[str, tuple[bytes, bool]]:
        out: dict[str, tuple[bytes, bool]] = {}
        for image in self.images.values():
            out[image.config_digest] = (image.config, False)
            for layer in image.layers:
                out[layer.digest] = (layer.blob, True)
        return out

    def wait_turn(self) -> None:
        with self.lock:
            self.layer_gets += 1
            mine = self.layer_gets
        if self.armed and mine > self.allowed:
            self.release.wait(50)  # below the scanner's 60 s read timeout


def serve_registry(reg: GatedRegistry) -> ThreadingHTTPServer:
    blobs = reg.blobs()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = self.path.split("/")
            # /v2/<repo...>/manifests/<ref> or /v2/<repo...>/blobs/<digest>
            if len(parts) < 5 or parts[1] != "v2":
                return self.send_error(404)
            kind, ref, repo = parts[-2], parts[-1], "/".join(parts[2:-2])
            if kind == "manifests" and f"{repo}:{ref}" in reg.images:
                image = reg.images[f"{repo}:{ref}"]
                return self.reply(image.manifest, OCI_MANIFEST, image.manifest_digest)
            if kind == "blobs" and ref in blobs:
                data, is_layer = blobs[ref]
                if is_layer:
                    reg.wait_turn()
                return self.reply(data, "application/octet-stream", ref)
            self.send_error(404)

        def reply(self, body: bytes, ctype: str, digest: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Content-Digest", digest)
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    reg.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def gated(seeded: Any) -> Iterator[tuple[Account, GatedRegistry]]:
    acct = new_account(seeded.server, "console-stop")
    reg = GatedRegistry(allowed=2)
    for n in range(5):
        reg.images[f"stop/svc{n}:1.0"] = make_image(
            [{"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": dpkg_status([(f"pkg{n}", "1")])}]
        )
    httpd = serve_registry(reg)
    try:
        acct.add_images(*(f"registry:127.0.0.1:{reg.port}/{ref}" for ref in reg.images))
        reg.armed = True  # from now on only two layers come through
        yield acct, reg
    finally:
        reg.release.set()  # let the worker finish whatever it holds, for the next tests
        httpd.shutdown()
        httpd.server_close()


def test_stop_a_long_scan(page: Page, gated: tuple[Account, GatedRegistry], shots: Path) -> None:
    acct, reg = gated
    sign_in(page, acct)
    names = [f"127.0.0.1:{reg.port}/{ref}" for ref in reg.images]
    for name in names:
        expect(cell(page, name, "ScanStatus")).to_have_text("Not scanned")
    page.get_by_role("button", name="Scan all").click()
    box = page.locator("#scan-progress")
    expect(box).to_have_attribute("data-status", "SCANNING")
    expect(page.locator("#scan-title-text")).to_have_text("Scanning all images")
    # two images scan; the third waits for its layer, so the task is still running
    expect(page.locator("#scan-text")).to_contain_text(
        "2 of 5 images · 40%", timeout=SCAN_TIMEOUT_MS
    )
    expect(page.locator("#scan-bar")).to_have_js_property("value", 40)
    status = acct.sdk().DescribeAssetImageScanStatus(models.DescribeAssetImageScanStatusRequest())
    assert (status.Status, status.ImageScanCnt, status.ImageTotal) == ("SCANNING", 2, 5)
    expect(page.get_by_role("button", name="Scan all")).to_be_disabled()
    stop = page.get_by_role("button", name="Stop", exact=True)
    expect(stop).to_be_visible()
    screenshot(page, shots / "console-scan-progress.png")

    stop.click()
    expect(box).to_have_attribute("data-status", "END", timeout=SCAN_TIMEOUT_MS)
    expect(box).to_have_attribute("data-result", "Cancel")
    expect(page.locator("#scan-title-text")).to_have_text("Scan stopped")
    expect(stop).to_be_hidden()
    summary = acct.sdk().DescribeAssetImageScanTask(models.DescribeAssetImageScanTaskRequest())
    assert (summary.Status, summary.SubStatus) == ("END", "Cancel")

    # the table was reloaded: two scanned, the one in flight still marked, two never started
    rows = api_rows(acct)
    by_status: dict[str, list[str]] = {}
    for name in names:
        by_status.setdefault(rows[name].ScanStatus, []).append(name)
    assert len(by_status["SCANNED"]) == 2 and len(by_status["NOT_SCAN"]) == 2, by_status
    for name in names:
        want = {"SCANNED": "Scanned", "NOT_SCAN": "Not scanned", "SCANNING": "Scanning"}
        expect(cell(page, name, "ScanStatus")).to_have_text(want[rows[name].ScanStatus])
    expect(page.get_by_role("button", name="Scan all")).to_be_enabled()


def test_a_task_started_elsewhere_is_followed(
    page: Page, gated: tuple[Account, GatedRegistry]
) -> None:
    acct, reg = gated
    reg.allowed = 0  # nothing gets through: the task stays at 0 of 5
    sign_in(page, acct)
    expect(page.locator("#scan-progress")).to_be_hidden()  # no task yet
    create = models.CreateAssetImageScanTaskRequest()
    create.All = True
    task_id = acct.sdk().CreateAssetImageScanTask(create).TaskID  # e.g. from tccli
    # the server runs one task per account: it refuses this one, and the page follows its task
    page.get_by_role("button", name="Scan all").click()
    expect(page.locator("#error")).to_contain_text("FailedOperation.ErrAlreadyScanning")
    expect(page.locator("#scan-task")).to_have_text(task_id)
    expect(page.locator("#scan-title-text")).to_have_text("Scanning a running task")
    expect(page.locator("#scan-text")).to_contain_text("0 of 5 images · 0%")
    # a reload (or a new sign-in) picks the running task up again
    page.reload()
    expect(page.locator("#scan-task")).to_have_text(task_id)
    expect(page.get_by_role("button", name="Scan all")).to_be_disabled()
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator("#scan-progress")).to_have_attribute(
        "data-result", "Cancel", timeout=SCAN_TIMEOUT_MS
    )
    page.get_by_role("button", name="Hide").click()
    expect(page.locator("#scan-progress")).to_be_hidden()
    expect(page.get_by_role("button", name="Scan all")).to_be_focused()


# --- drill-down tabs that the server may not offer yet -----------------------------------------


def sdk_list(acct: Any, action: str, image_id: str) -> list[Any] | str:
    """The action's List through the SDK, or the error code the server answers."""
    req = getattr(models, f"{action}Request")()
    req.ImageID = image_id
    req.Limit = 100
    client = tcss(acct.server.endpoint, acct.secret_id, acct.secret_key)
    try:
        return list(getattr(client, action)(req).List or [])
    except TencentCloudSDKException as exc:
        return str(exc.code)


@pytest.mark.parametrize(
    ("tab", "action", "risk", "first_field"),
    [
        ("Viruses", "DescribeAssetImageVirusList", "VirusCnt", "VirusName"),
        ("Risks", "DescribeAssetImageRiskList", "RiskCnt", "Desc"),
    ],
)
def test_virus_and_risk_tabs_show_what_the_server_answers(
    page: Page, seeded: Any, tab: str, action: str, risk: str, first_field: str
) -> None:
    """The tab shows the action's List when the server has the action, and says "not
    available" with the server's error code when it does not."""
    client = tcss(seeded.server.endpoint, seeded.secret_id, seeded.secret_key)
    req = models.DescribeAssetImageListRequest()
    req.Filters = [models.AssetFilters()]
    req.Filters[0].Name = "SecurityRisk"
    req.Filters[0].Values = [risk]
    image = client.DescribeAssetImageList(req).List[0]  # an image with such findings
    want = sdk_list(seeded, action, image.ImageID)
    page.goto(f"{seeded.base}/console#id={image.ImageID}")
    page.get_by_label("SecretId").fill(seeded.secret_id)
    page.get_by_label("SecretKey").fill(seeded.secret_key)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#rows").get_by_role("button", name=image.ImageName, exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name=tab).click()
    panel = dialog.get_by_role("tabpanel", name=tab)
    if isinstance(want, str):  # the server has no such action (yet)
        assert want == "InvalidAction" or want.startswith("UnsupportedOperation"), want
        expect(panel).to_have_attribute("data-state", "unavailable")
        expect(panel).to_contain_text(f"Not available: this server does not offer {action} yet")
        expect(panel).to_contain_text(want)
    else:
        assert len(want) == getattr(image, risk) > 0
        expect(panel).to_have_attribute("data-state", "loaded")
        expect(panel.locator(f"tbody th[data-field={first_field}]")).to_have_text(
            [str(getattr(w, first_field)) for w in want]
        )


def test_a_missing_action_says_not_available(page: Page, layout_account: Account) -> None:
    """Whatever this server offers, the tab copes with the InvalidAction a server answers for an
    action it lacks: the test renames the action on the wire (X-TC-Action is not part of the
    TC3 signature) and the real server answers."""
    acct = layout_account

    def rename(route: Route) -> None:
        headers = dict(route.request.headers)
        if headers.get("x-tc-action") == "DescribeAssetImageVirusList":
            headers["x-tc-action"] = "DescribeAssetImageVirusListNotHere"
        route.continue_(headers=headers)

    page.route(f"{acct.base}/", rename)
    sign_in(page, acct)
    page.get_by_role("button", name="scan/alpha:1", exact=True).click()
    dialog = page.get_by_role("dialog")
    tab = dialog.get_by_role("tab", name="Viruses")
    tab.focus()
    page.keyboard.press("End")  # Risks is the last tab: arrow keys move along the tab list
    expect(dialog.get_by_role("tab", name="Risks")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(tab).to_be_focused()
    expect(tab).to_have_attribute("aria-selected", "true")
    panel = dialog.get_by_role("tabpanel", name="Viruses")
    expect(panel).to_have_attribute("data-state", "unavailable")
    expect(panel).to_contain_text("InvalidAction")
    expect(page.locator("#error")).to_be_hidden()  # not an error banner: just not there
