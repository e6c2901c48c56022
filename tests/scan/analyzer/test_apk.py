"""The apk installed database."""

from __future__ import annotations

from pathlib import PurePosixPath

from imagewarden.scan.analyzer.apk import ApkAnalyzer
from imagewarden.scan.analyzer.base import FileInfo, LayerFile

# format-exact excerpt of an Alpine 3.18 lib/apk/db/installed (hand-built: no network here)
INSTALLED = """\
C:Q1SKOuhJYjFeyYoTWX5vk2/ljGkfs=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1698686823
c:b6ea2b83c0e5a2b0c8d0bcbe6bf2a0d1c6c1d1b1
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1FIBQXkMRv5dpZh5ovXtXBT2nfNU=

C:Q1nD6VLOkHqdPmhBuAQkqOaZBsMSA=
P:libcrypto3
V:3.1.4-r1
A:x86_64
L:Apache-2.0
o:openssl
F:lib
R:libcrypto.so.3

C:Q1broken=
P:no-version
A:x86_64
"""


def test_installed_db() -> None:
    a = ApkAnalyzer()
    path = PurePosixPath("lib/apk/db/installed")
    assert a.wants(path, FileInfo(path, 1, 0o644))
    assert not a.wants(PurePosixPath("lib/apk/db/triggers"), FileInfo(path, 1, 0o644))
    data = INSTALLED.encode()
    facts = a.analyze({path: LayerFile(path, len(data), 0o644, data)})
    got = [(c.name, c.version, c.source_name, c.purl) for c in facts.components]
    assert got == [
        ("musl", "1.2.4-r2", "musl", "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"),
        ("libcrypto3", "3.1.4-r1", "openssl", "pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64"),
    ]
    assert [u.reason for u in facts.unknowns] == ["paragraph at line 29: no P or no V"]
