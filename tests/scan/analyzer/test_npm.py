"""npm analyzer: a real `npm install` (lockfile v1, v2, v3) and small real-format files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.npm import NpmAnalyzer
from imagewarden.scan.model import ComponentType, LayerFacts


def _analyze(files: dict[str, bytes | str]) -> LayerFacts:
    out = {}
    for k, v in files.items():
        data = v.encode() if isinstance(v, str) else v
        out[PurePosixPath(k)] = LayerFile(PurePosixPath(k), len(data), 0o644, data)
    return NpmAnalyzer().analyze(out)


def _walk(root: Path, prefix: str) -> LayerFacts:
    a = NpmAnalyzer()
    wanted = {}
    for f in sorted(root.rglob("*")):
        if f.is_file() and not f.is_symlink():
            p = PurePosixPath(prefix, f.relative_to(root).as_posix())
            if a.wants(p, FileInfo(p, f.stat().st_size, 0o644)):
                data = f.read_bytes()
                wanted[p] = LayerFile(p, len(data), 0o644, data)
    return a.analyze(wanted)


def test_wants() -> None:
    a = NpmAnalyzer()

    def w(path: str) -> bool:
        return a.wants(PurePosixPath(path), FileInfo(PurePosixPath(path), 1, 0o644))

    assert w("app/node_modules/is-number/package.json")
    assert w("app/node_modules/@types/node/package.json")
    assert w("app/node_modules/a/node_modules/b/package.json")
    assert w("app/package-lock.json")
    assert not w("app/package.json")  # the application itself
    assert not w("app/node_modules/a/lib/package.json")
    assert not w("app/node_modules/@types/package.json")
    assert not w("app/node_modules/a/package-lock.json")
    assert not w("app/node_modules/.package-lock.json")


@pytest.mark.slow
@pytest.mark.parametrize("lockfile_version", [1, 2, 3])
def test_real_npm_install(tmp_path: Path, lockfile_version: int) -> None:
    if shutil.which("npm") is None:
        pytest.skip("apt-get install npm")
    (tmp_path / "package.json").write_text('{"name": "iw-app", "version": "1.0.0"}')
    subprocess.run(
        [
            *("npm", "install", "--ignore-scripts", "--no-audit", "--no-fund"),
            f"--lockfile-version={lockfile_version}",
            *("is-number@7.0.0", "@isaacs/string-locale-compare@1.1.0"),
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    lock = json.loads((tmp_path / "package-lock.json").read_text())
    assert lock["lockfileVersion"] == lockfile_version
    listed = json.loads(
        subprocess.run(
            ["npm", "ls", "--all", "--json"],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    want = {(name, d["version"]) for name, d in listed["dependencies"].items()}
    assert want == {("is-number", "7.0.0"), ("@isaacs/string-locale-compare", "1.1.0")}

    facts = _walk(tmp_path, "srv/app")
    assert facts.unknowns == ()
    by_path: dict[str, set[tuple[str, str]]] = {}
    for c in facts.components:
        by_path.setdefault(c.path, set()).add((c.name, c.version))
        assert c.type is ComponentType.NPM
    assert by_path.pop("srv/app/package-lock.json") == want
    assert by_path == {
        "srv/app/node_modules/is-number/package.json": {("is-number", "7.0.0")},
        "srv/app/node_modules/@isaacs/string-locale-compare/package.json": {
            ("@isaacs/string-locale-compare", "1.1.0")
        },
    }
    purls = {c.purl for c in facts.components}
    assert purls == {"pkg:npm/is-number@7.0.0", "pkg:npm/%40isaacs/string-locale-compare@1.1.0"}


LOCK_V1 = {
    "name": "app",
    "lockfileVersion": 1,
    "dependencies": {
        "a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0"}}},
        "b": {"version": "3.0.0"},
        "jest": {"version": "29.0.0", "dev": True},
        "local": {"version": "file:../local"},
        "gitdep": {"version": "git+https://example.invalid/x.git#abc"},
    },
}
LOCK_V3 = {
    "name": "app",
    "lockfileVersion": 3,
    "packages": {
        "": {"name": "app", "version": "1.0.0"},
        "node_modules/@s/x": {"version": "0.1.0"},
        "node_modules/@s/x/node_modules/y": {"version": "4.5.6"},
        "node_modules/alias": {"name": "real-name", "version": "7.7.7"},
        "node_modules/ws-pkg": {"resolved": "packages/ws-pkg", "link": True},
        "packages/ws-pkg": {"name": "ws-pkg", "version": "0.0.1"},
        "node_modules/typescript": {"version": "5.0.0", "dev": True},
    },
}


def test_lockfiles_v1_and_v3() -> None:
    facts = _analyze(
        {"a/package-lock.json": json.dumps(LOCK_V1), "b/package-lock.json": json.dumps(LOCK_V3)}
    )
    assert facts.unknowns == ()
    assert [(c.path, c.name, c.version) for c in facts.components] == [
        ("b/package-lock.json", "@s/x", "0.1.0"),
        ("a/package-lock.json", "a", "1.0.0"),
        ("a/package-lock.json", "b", "2.0.0"),
        ("a/package-lock.json", "b", "3.0.0"),
        ("b/package-lock.json", "real-name", "7.7.7"),
        ("b/package-lock.json", "y", "4.5.6"),
    ]


def test_package_json_without_version_and_malformed_files() -> None:
    facts = _analyze(
        {
            "n/node_modules/noversion/package.json": '{"name": "noversion"}',
            "n/node_modules/ok/package.json": '{"name": "ok", "version": "1.2.3"}',
            "n/node_modules/bad/package.json": "{not json",
            "n/node_modules/arr/package.json": "[1, 2]",
            "n/node_modules/@s/x/package.json": '{"name": "@s/", "version": "1.0.0"}',
            "n/node_modules/deep/package.json": "[" * 100_000 + "]" * 100_000,
            "m/package-lock.json": '{"lockfileVersion": 9}',
            "o/package-lock.json": '{"lockfileVersion": 1, "dependencies": {"x": 3}}',
        }
    )
    assert [(c.name, c.purl) for c in facts.components] == [("ok", "pkg:npm/ok@1.2.3")]
    assert [u.path for u in facts.unknowns] == [
        "m/package-lock.json",
        "n/node_modules/@s/x/package.json",
        "n/node_modules/arr/package.json",
        "n/node_modules/bad/package.json",
        "n/node_modules/deep/package.json",
        "o/package-lock.json",
    ]
