"""Export from the console, for real: the page starts ``CreateImageExportJob`` with the table's
filters, sort and columns, follows ``DescribeExportJobResult``, and offers the server's signed
download links; the test downloads the files the way a user would (the browser's download)
and holds them against ``DescribeAssetImageList`` read through the official SDK."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, Route, expect
from tencentcloud.tcss.v20201101 import models

from tests.console.conftest import Seeded
from tests.e2e.sdk import tcss

pytestmark = pytest.mark.slow

EXPORT_TIMEOUT_MS = 60_000  # a wait limit for the server's export job, not a timing assertion
JOB_ID = re.compile(r"^imagewarden-export-[0-9a-f]{32}$")


def xlsx_rows(path: Path) -> list[list[object]]:
    """The rows of the workbook's first sheet (read-only mode keeps the file open until
    the workbook is closed: an unclosed one warned later, in another test)."""
    book = load_workbook(path, read_only=True)
    try:
        return [list(r) for r in book.active.iter_rows(values_only=True)]
    finally:
        book.close()


def sign_in(page: Page, s: Seeded) -> None:
    page.goto(f"{s.base}/console")
    page.get_by_label("SecretId").fill(s.secret_id)
    page.get_by_label("SecretKey").fill(s.secret_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#app-view")).to_be_visible()


def sdk_rows(
    s: Seeded, filters: list[tuple[str, list[str]]], by: str, order: str
) -> list[models.ImagesInfo]:
    """Every matching ImagesInfo, page by page, through the official SDK."""
    client = tcss(s.server.endpoint, s.secret_id, s.secret_key)
    out: list[models.ImagesInfo] = []
    while True:
        req = models.DescribeAssetImageListRequest()
        req.Limit = 100
        req.Offset = len(out)
        req.By = by
        req.Order = order
        req.Filters = []
        for name, values in filters:
            f = models.AssetFilters()
            f.Name = name
            f.Values = values
            req.Filters.append(f)
        resp = client.DescribeAssetImageList(req)
        out.extend(resp.List or [])
        if len(out) >= resp.TotalCount or not resp.List:
            return out


def visible_columns(page: Page) -> list[str]:
    keys: list[str] = page.locator("#head-row th").evaluate_all(
        "(ths) => ths.map((th) => th.dataset.key)"
    )
    return keys


def download(page: Page, link_name: str, into: Path) -> Path:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    d = info.value
    assert d.failure() is None
    path = into / d.suggested_filename
    d.save_as(path)
    return path


def export_and_wait(page: Page) -> None:
    page.get_by_role("button", name="Export", exact=True).click()
    box = page.locator("#export-progress")
    expect(box).to_have_attribute("data-status", "SUCCESS", timeout=EXPORT_TIMEOUT_MS)
    expect(page.get_by_role("status").filter(has_text="Export ready")).to_be_visible()
    expect(page.locator("#export-bar")).to_have_js_property("value", 100)
    expect(page.locator("#export-job")).to_have_text(JOB_ID)


def test_export_matches_the_list_for_the_same_filter(
    page: Page, seeded: Seeded, tmp_path: Path, shots: Path
) -> None:
    s = seeded
    sign_in(page, s)
    page.get_by_label("Scan status", exact=True).select_option("SCANNED")
    page.get_by_label("High vulnerabilities").check()
    page.locator("#head-row button.sort[data-sort=Size]").click()  # Size, largest first
    expect(page.locator("#head-row th[data-key=Size]")).to_have_attribute("aria-sort", "descending")
    filters = [("ScanStatus", ["SCANNED"]), ("SecurityRisk", ["HighLevelVul"])]
    want = sdk_rows(s, filters, "Size", "desc")
    # the filter must select something, and less than everything, to mean anything
    assert 0 < len(want) < len(s.images)
    page.get_by_label("Rows per page").select_option("10")
    expect(page.locator("#rows tr")).to_have_count(10)
    assert len(want) > 10  # more than the page the table shows: an export is every page
    expect(page.locator("#total")).to_have_text(f"{len(want)} images match the filters")

    export_and_wait(page)
    page.locator(".exportbar").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "console-export.png"))
    columns = visible_columns(page)

    xlsx = download(page, "Download XLSX", tmp_path)
    assert xlsx.suffix == ".xlsx"
    got = xlsx_rows(xlsx)
    assert got[0] == columns
    expected = [[getattr(i, c) for c in columns] for i in want]
    assert [["" if v is None else v for v in r] for r in got[1:]] == expected

    csv_path = download(page, "Download CSV", tmp_path)
    assert csv_path.suffix == ".csv"
    with csv_path.open(newline="", encoding="utf-8") as fh:
        text_rows = list(csv.reader(fh))
    assert text_rows[0] == columns
    as_text = [
        [("true" if v else "false") if isinstance(v, bool) else str(v) for v in r] for r in expected
    ]
    assert text_rows[1:] == as_text


def test_export_of_an_empty_selection_is_the_header_only(
    page: Page, seeded: Seeded, tmp_path: Path
) -> None:
    s = seeded
    sign_in(page, s)
    name = "registry.example/nothing-is-called-this"
    page.get_by_label("Image name", exact=True).fill(name)
    page.get_by_label("Image name", exact=True).press("Enter")
    expect(page.locator("#rows td.empty")).to_have_text("No images match these filters.")
    assert sdk_rows(s, [("ImageName", [name])], "CreateTime", "desc") == []
    export_and_wait(page)
    assert xlsx_rows(download(page, "Download XLSX", tmp_path)) == [visible_columns(page)]


def test_an_export_error_is_shown_in_the_banner(page: Page, seeded: Seeded) -> None:
    """The real server's error for a CreateImageExportJob it does not know: the test renames the
    action on the wire (X-TC-Action is not part of the TC3 signature)."""
    s = seeded

    def rename(route: Route) -> None:
        headers = dict(route.request.headers)
        if headers.get("x-tc-action") == "CreateImageExportJob":
            headers["x-tc-action"] = "CreateImageExportJobNotHere"
        route.continue_(headers=headers)

    page.route(f"{s.base}/", rename)
    sign_in(page, s)
    page.get_by_role("button", name="Export", exact=True).click()
    banner = page.get_by_role("alert").filter(has_text="InvalidAction")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("RequestId")
    expect(page.locator("#export-progress")).to_have_attribute("data-status", "FAILURE")
    expect(page.locator("#export-text")).to_have_text("Export not started (InvalidAction)")
    expect(page.get_by_role("link", name="Download XLSX")).to_have_count(0)
    expect(page.get_by_role("button", name="Export", exact=True)).to_be_enabled()
