"""Risky build steps from real image configs and histories (built, written, parsed back)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from imagewarden.scan.detect.base import BuildRiskFinding, FindingCategory
from imagewarden.scan.detect.build_risks import RULES, BuildRiskDetector, instruction_of
from imagewarden.scan.detect.registry import build
from imagewarden.scan.pipeline import scan_image
from imagewarden.scan.source import open_source
from tests.testdata.images.build import make_image, write_oci_layout

BASE = {"etc/os-release": 'ID=debian\nVERSION_ID="12"\n'}


def _risks(
    tmp_path: Path,
    *,
    config: Mapping[str, object] | None = None,
    history: Sequence[str] = (),
    env: Sequence[str] = ("PATH=/bin",),
) -> list[BuildRiskFinding]:
    image = make_image(
        [BASE],
        env=env,
        config_extra={"User": "app", **dict(config or {})},
        history=[{"created_by": h} for h in history] or None,
    )
    write_oci_layout(tmp_path / "img", [("v1", image)])
    chosen = build(["risk"])
    src = open_source(f"oci:{tmp_path / 'img'}:v1")
    try:
        report = scan_image(
            src, detectors=chosen.detectors, content_scanners=chosen.content_scanners
        )
    finally:
        src.close()
    (outcome,) = [o for o in report.outcomes if o.category is FindingCategory.RISK]
    assert outcome.error is None
    return [f for f in outcome.findings if isinstance(f, BuildRiskFinding)]


def _ids(findings: list[BuildRiskFinding]) -> set[str]:
    return {f.rule_id for f in findings}


def test_a_careful_image_has_no_risks(tmp_path: Path) -> None:
    history = [
        "/bin/sh -c #(nop) ADD file:0a1b2c in / ",
        "RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends curl "
        "openssh-client && rm -rf /var/lib/apt/lists/* # buildkit",
        "RUN /bin/sh -c curl -fsSLo /tmp/x.tgz https://example.com/x.tgz && sha256sum -c x.sha "
        "&& chmod 755 /usr/local/bin/x # buildkit",
        "ADD --checksum=sha256:abcd https://example.com/y.tgz /opt/ # buildkit",
        "ENV GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D TOKEN_URL=https://auth/x",
        "USER app",
    ]
    assert _risks(tmp_path, history=history, env=("PATH=/bin", "PASSWORD_FILE=/run/s")) == []


@pytest.mark.parametrize(
    ("rule_id", "created_by", "instruction"),
    [
        (
            "curl-pipe-shell",
            "/bin/sh -c curl -fsSL https://get.example.com | sh",
            "RUN curl -fsSL https://get.example.com | sh",
        ),
        (
            "curl-pipe-shell",
            "RUN /bin/sh -c wget -qO- https://x/install.sh | sudo -E bash - # buildkit",
            "RUN wget -qO- https://x/install.sh | sudo -E bash -",
        ),
        (
            "curl-pipe-shell",
            '/bin/sh -c sh -c "$(curl -fsSL https://x/install.sh)"',
            'RUN sh -c "$(curl -fsSL https://x/install.sh)"',
        ),
        (
            "add-from-url",
            "ADD https://example.com/app.tar.gz /opt/ # buildkit",
            "ADD https://example.com/app.tar.gz /opt/",
        ),
        (
            "add-from-url",
            "/bin/sh -c #(nop) ADD http://example.com/app.tar.gz in /opt/",
            "ADD http://example.com/app.tar.gz in /opt/",
        ),
        ("chmod-777", "/bin/sh -c chmod -R 777 /data", "RUN chmod -R 777 /data"),
        ("chmod-777", "/bin/sh -c chmod a+rwx /srv && true", "RUN chmod a+rwx /srv && true"),
        (
            "ssh-server-installed",
            "/bin/sh -c apt-get install -y openssh-server",
            "RUN apt-get install -y openssh-server",
        ),
        (
            "ssh-server-installed",
            "/bin/sh -c apk add --no-cache openssh",
            "RUN apk add --no-cache openssh",
        ),
        (
            "privileged-hint",
            "/bin/sh -c #(nop)  LABEL RUN=docker run --privileged -v /:/host IMAGE",
            "LABEL RUN=docker run --privileged -v /:/host IMAGE",
        ),
        ("latest-base-tag", "FROM debian:latest", "FROM debian:latest"),
        (
            "latest-base-tag",
            "FROM --platform=linux/amd64 alpine",
            "FROM --platform=linux/amd64 alpine",
        ),
        (
            "secret-in-build-arg",
            "|2 NPM_TOKEN=npm_AbCdEf1234567890 VERSION=1 /bin/sh -c npm ci",
            "RUN |2 NPM_TOKEN=******** VERSION=1 npm ci",
        ),
        ("secret-in-build-arg", "ARG DB_PASSWORD=Sup3r-Secr3t", "ARG DB_PASSWORD=********"),
    ],
)
def test_risky_history_steps(
    tmp_path: Path, rule_id: str, created_by: str, instruction: str
) -> None:
    found = _risks(tmp_path, history=["/bin/sh -c #(nop) ADD file:0a1b2c in / ", created_by])
    assert [(f.rule_id, f.instruction) for f in found] == [(rule_id, instruction)]
    (f,) = found
    rule = RULES[rule_id]
    assert (f.behavior, f.type, f.level, f.description) == (
        rule.behavior,
        rule.type,
        rule.level,
        rule.description,
    )


def test_root_user_ports_volumes_labels_and_env(tmp_path: Path) -> None:
    tkey = "Qw12Er34Ty56Ui78Op90As12Df34Gh56"
    found = _risks(
        tmp_path,
        config={
            "User": "",
            "ExposedPorts": {"22/tcp": {}, "80/tcp": {}},
            "Volumes": {"/var/run/docker.sock": {}},
            "Labels": {"org.opencontainers.image.base.name": "docker.io/library/ubuntu:latest"},
        },
        history=[
            "/bin/sh -c #(nop) ADD file:0a1b2c in / ",
            f"/bin/sh -c #(nop)  ENV TENCENTCLOUD_SECRET_KEY={tkey}",
            "/bin/sh -c #(nop)  EXPOSE 22 80",
        ],
        env=("PATH=/bin", f"TENCENTCLOUD_SECRET_KEY={tkey}"),
    )
    assert {(f.rule_id, f.instruction) for f in found} == {
        ("run-as-root", "(no USER instruction)"),
        ("ssh-port-exposed", "EXPOSE 22 80"),
        ("privileged-hint", "VOLUME /var/run/docker.sock"),
        (
            "latest-base-tag",
            "LABEL org.opencontainers.image.base.name=docker.io/library/ubuntu:latest",
        ),
        ("secret-in-env", "ENV TENCENTCLOUD_SECRET_KEY=********"),
    }
    assert tkey not in repr(found)


def test_explicit_root_user_is_quoted(tmp_path: Path) -> None:
    found = _risks(tmp_path, config={"User": "0:0"}, history=["USER 0:0"])
    assert [(f.rule_id, f.instruction, f.level) for f in found] == [("run-as-root", "USER 0:0", 2)]


def test_instruction_of_history_formats() -> None:
    assert instruction_of('/bin/sh -c #(nop)  CMD ["bash"]') == 'CMD ["bash"]'
    assert instruction_of("/bin/sh -c apt-get update") == "RUN apt-get update"
    assert instruction_of("RUN /bin/sh -c make # buildkit") == "RUN make"
    assert instruction_of("|1 A=b /bin/sh -c make") == "RUN |1 A=b make"
    assert instruction_of("WORKDIR /app") == "WORKDIR /app"
    assert instruction_of("") == ""


def test_secrets_anywhere_in_an_instruction_are_masked() -> None:
    detector = BuildRiskDetector()
    text = "RUN curl -H 'Authorization: token ghp_" + "aB3" * 12 + "' https://x | sh"
    assert "ghp_" not in detector.redact(text)
    assert detector.redact("RUN make all") == "RUN make all"
