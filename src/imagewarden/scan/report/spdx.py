"""SPDX 2.3 (JSON) SBOM of a scan report: the image as the described package, every
component as a package it CONTAINS, identified by purl.  A language component the OS
package manager installed (``Component.owner``) is also CONTAINed by its OS package and
says so in its ``comment``."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec

from imagewarden import __version__
from imagewarden.scan.model import ComponentType, ScanReport

__all__ = ["render_spdx"]


_OS_TYPES = (ComponentType.DEB, ComponentType.APK, ComponentType.RPM)


def _spdx_id(*parts: str) -> str:
    return "SPDXRef-Package-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def render_spdx(report: ScanReport, *, created: datetime | None = None) -> bytes:
    when = (created or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    image_ref = report.repo_tags[0] if report.repo_tags else report.image_id
    image_id = _spdx_id("image", report.image_id)
    packages: list[dict[str, object]] = [
        {
            "SPDXID": image_id,
            "name": image_ref,
            "versionInfo": report.image_id,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "primaryPackagePurpose": "CONTAINER",
            "comment": f"OS: {report.os.name}" if report.os else "OS: unknown",
        }
    ]
    relationships: list[dict[str, str]] = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": image_id,
        }
    ]
    seen: set[str] = set()
    #: "deb:python3-requests" -> SPDX id of that OS package (the owner of language components)
    os_ids = {
        f"{c.type.value}:{c.name}": _spdx_id(c.type.value, c.name, c.version, c.path)
        for c in report.components
        if c.type in _OS_TYPES
    }
    for c in report.components:
        pid = _spdx_id(c.type.value, c.name, c.version, c.path)
        if pid in seen:
            continue
        seen.add(pid)
        pkg: dict[str, object] = {
            "SPDXID": pid,
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "sourceInfo": f"found by the {c.analyzer} analyzer in {c.path}",
        }
        if c.owner:
            # SPDX 2.3 has no free-form properties: the owner is said in the comment and as
            # a CONTAINS relationship from the owning OS package
            pkg["comment"] = f"installed by the OS package {c.owner}"
            if owner_id := os_ids.get(c.owner):
                relationships.append(
                    {
                        "spdxElementId": owner_id,
                        "relationshipType": "CONTAINS",
                        "relatedSpdxElement": pid,
                    }
                )
        if c.purl:
            pkg["externalRefs"] = [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": c.purl,
                }
            ]
        packages.append(pkg)
        relationships.append(
            {"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": pid}
        )
    digest = hashlib.sha256(msgspec.json.encode([p["SPDXID"] for p in packages])).hexdigest()[:16]
    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image_ref,
        "documentNamespace": f"https://imagewarden.invalid/spdx/{report.image_id.split(':')[-1]}/{digest}",
        "creationInfo": {"created": when, "creators": [f"Tool: imagewarden-{__version__}"]},
        "packages": packages,
        "relationships": relationships,
    }
    return msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"
