"""The RISK detector: risky build steps and settings, read from the image config and history.

Every history entry's ``created_by`` is first turned into the Dockerfile instruction it
records (classic ``/bin/sh -c #(nop) ENV ...`` and ``/bin/sh -c cmd``, BuildKit's
``RUN /bin/sh -c cmd # buildkit``, ``|N NAME=value`` build-arg prefixes), then each rule
looks at the instructions and at the config (``User``, ``ExposedPorts``, ``Volumes``,
``Labels``, ``Env``).  Secrets never reach a finding: every instruction is passed through
the secret rules' redaction and secret-named ``NAME=value`` assignments are masked.

The Behavior / Type / Level codes are documented in docs/detectors.md; ``RULES`` is the
single table of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from imagewarden.scan.detect.base import BuildRiskFinding, DetectorOutcome, FindingCategory
from imagewarden.scan.detect.secrets import history_text
from imagewarden.scan.model import ImageContents
from imagewarden.scan.secrets import MASK, SecretScanner
from imagewarden.scan.source.base import ImageConfig

__all__ = [
    "BEHAVIOR_ATTACK_SURFACE",
    "BEHAVIOR_CREDENTIALS",
    "BEHAVIOR_PRIVILEGE",
    "BEHAVIOR_UNTRUSTED_CODE",
    "RULES",
    "TYPE_BUILD",
    "BuildRiskDetector",
    "RiskRule",
    "instruction_of",
    "is_secret_name",
]

# ImageRiskInfo.Behavior
BEHAVIOR_PRIVILEGE = 1
BEHAVIOR_UNTRUSTED_CODE = 2
BEHAVIOR_ATTACK_SURFACE = 3
BEHAVIOR_CREDENTIALS = 4
# ImageRiskInfo.Type (1 = sensitive information, see detect/secrets.py)
TYPE_BUILD = 2
_MAX_INSTRUCTION = 500


@dataclass(frozen=True)
class RiskRule:
    id: str
    behavior: int
    level: int  # 1 low, 2 medium, 3 high, 4 critical
    description: str
    type: int = TYPE_BUILD


RULES: Mapping[str, RiskRule] = {
    r.id: r
    for r in (
        RiskRule(
            "run-as-root",
            BEHAVIOR_PRIVILEGE,
            2,
            "Containers of this image run as root (no USER, or USER root/0): a process "
            "breaking out of the application owns the container. Add a non-root USER.",
        ),
        RiskRule(
            "privileged-hint",
            BEHAVIOR_PRIVILEGE,
            3,
            "The image asks to be run with host-level privileges (--privileged, added "
            "capabilities, host namespaces or the Docker socket). Drop the requirement.",
        ),
        RiskRule(
            "add-from-url",
            BEHAVIOR_UNTRUSTED_CODE,
            2,
            "ADD fetches a remote URL at build time without a checksum: the content can "
            "change under the same URL. Download with a pinned checksum (ADD --checksum) "
            "or COPY a verified file.",
        ),
        RiskRule(
            "curl-pipe-shell",
            BEHAVIOR_UNTRUSTED_CODE,
            3,
            "A remote script is downloaded and executed in one step (curl/wget piped into "
            "a shell or interpreter) without verification. Download, verify a checksum or "
            "signature, then run.",
        ),
        RiskRule(
            "latest-base-tag",
            BEHAVIOR_UNTRUSTED_CODE,
            1,
            "The base image is referenced by the mutable 'latest' tag (or no tag): rebuilds "
            "silently change the base. Pin a version tag or digest.",
        ),
        RiskRule(
            "chmod-777",
            BEHAVIOR_ATTACK_SURFACE,
            2,
            "A build step makes files world-writable (chmod 777, a+rwx, o+w). Grant only "
            "the permissions the application needs.",
        ),
        RiskRule(
            "ssh-server-installed",
            BEHAVIOR_ATTACK_SURFACE,
            3,
            "An SSH server is installed in the image. Containers should not run sshd; use "
            "the orchestrator's exec facility instead.",
        ),
        RiskRule(
            "ssh-port-exposed",
            BEHAVIOR_ATTACK_SURFACE,
            2,
            "Port 22 (SSH) is exposed. Remove the EXPOSE and the SSH service.",
        ),
        RiskRule(
            "secret-in-env",
            BEHAVIOR_CREDENTIALS,
            3,
            "A secret-named variable is set with ENV: its value is stored in the image "
            "config for anyone who pulls the image. Pass it at run time from a secret store.",
        ),
        RiskRule(
            "secret-in-build-arg",
            BEHAVIOR_CREDENTIALS,
            3,
            "A secret-named build argument has a value recorded in the image history. Use "
            "build secrets (RUN --mount=type=secret) instead of ARG.",
        ),
    )
}

_SECRET_NAME = re.compile(
    r"(?i)(?:^|_)(?:pass|password|passwd|pwd|secret|secret_?key|token|auth_?token|"
    r"access_?token|api_?key|access_?key|private_?key|credentials?)(?:_|$)"
)
_NOT_A_SECRET_NAME = re.compile(
    r"(?i)_(?:file|path|dir|url|uri|host|port|user|username|name|endpoint|length|ttl|"
    r"expiry|timeout|type|mode|enabled|version)$"
)
_ASSIGN = re.compile(r"""(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s"']*)""")
_NOP = re.compile(r"^/bin/(?:ba)?sh\s+-c\s+#\(nop\)\s*", re.S)
_SHELL = re.compile(r"^(?:RUN\s+)?(\|\d+\s+(?:\S+=\S*\s+)*)?/bin/(?:ba)?sh\s+-c\s+", re.S)
_KEYWORD = re.compile(
    r"^(?:ADD|ARG|CMD|COPY|ENTRYPOINT|ENV|EXPOSE|FROM|HEALTHCHECK|LABEL|MAINTAINER|ONBUILD|"
    r"RUN|SHELL|STOPSIGNAL|USER|VOLUME|WORKDIR)\b"
)
_ADD_URL = re.compile(r"^ADD\s+(?:--\S+\s+)*(?:https?|ftp)://", re.I)
_ADD_CHECKSUM = re.compile(r"^ADD\s+(?:--\S+\s+)*--checksum=", re.I)
_PIPE_SHELL = re.compile(
    r"\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:\S*/)?"
    r"(?:ba|z|da|k|a)?sh\b"
    r"|\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+)?(?:\S*/)?(?:python[0-9.]*|perl|ruby|node)\b"
    r"|\b(?:ba)?sh\s+-c\s+[\"']?\$\(\s*(?:curl|wget)\b"
    r"|\b(?:ba)?sh\s+<\(\s*(?:curl|wget)\b"
)
_CHMOD = re.compile(
    r"\bchmod\s+(?:-[A-Za-z]+\s+)*(?:[0-7]?777|(?:a|ugo)\+rwx|[augo]*o[augo]*\+[rx]*w[rx]*)(?=\s|$|;|&)"
)
_SSH_PKG = re.compile(
    r"\b(?:apt-get|apt|aptitude|yum|dnf|microdnf|apk|zypper|pacman)\b[^;&|\n]*"
    r"(?<![\w-])(?:openssh-server|openssh(?![\w-])|dropbear(?:-bin)?(?![\w-])|ssh-server)"
)
_PRIVILEGED = re.compile(
    r"--privileged\b|--cap-add[= ]+(?:ALL|SYS_ADMIN)\b|--pid[= ]+host\b|"
    r"--(?:net|network)[= ]+host\b|/var/run/docker\.sock|docker\.sock:|"
    r"--security-opt[= ]+(?:seccomp|apparmor)[=:]unconfined",
    re.I,
)
_FROM = re.compile(r"^FROM\s+(?:--\S+\s+)*(\S+)", re.I)
_BASE_LABELS = ("org.opencontainers.image.base.name",)
_ROOT_USERS = frozenset({"", "root", "0", "0:0", "root:root", "root:0", "0:root"})


def is_secret_name(name: str) -> bool:
    """Whether an environment / build-arg name says its value is a secret."""
    return bool(_SECRET_NAME.search(name)) and not _NOT_A_SECRET_NAME.search(name)


def instruction_of(created_by: str) -> str:
    """The Dockerfile instruction a history ``created_by`` records (not yet redacted)."""
    text = created_by.strip()
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
    m = _NOP.match(text)
    if m:
        return text[m.end() :].strip()
    m = _SHELL.match(text)
    if m:
        args = (m.group(1) or "").strip()
        return f"RUN {args + ' ' if args else ''}{text[m.end() :].strip()}"
    if _KEYWORD.match(text):
        return text
    return f"RUN {text}" if text else ""


def _tag_of(ref: str) -> str | None:
    """The tag of an image reference (None when it has a digest)."""
    if "@" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


class BuildRiskDetector:
    """Risky build steps and settings from ``ImageContents.config`` (an ``ImageConfig``)."""

    category: ClassVar[FindingCategory] = FindingCategory.RISK

    def __init__(self, scanner: SecretScanner | None = None) -> None:
        self.scanner = scanner if scanner is not None else SecretScanner()

    def redact(self, text: str) -> str:
        """Mask secret-named assignments and whatever the secret rules find in ``text``."""

        def mask(m: re.Match[str]) -> str:
            name, value = m.group(1), m.group(2).strip("\"'")
            if is_secret_name(name) and value and not self.scanner.allows_value(value):
                return f"{name}={MASK}"
            return m.group(0)

        text = _ASSIGN.sub(mask, text)
        redacted = self.scanner.redact(history_text(text), ".env")
        # history_text put NAME=value words on lines of their own: one line again
        out = " ".join(redacted.split())
        return out if len(out) <= _MAX_INSTRUCTION else out[: _MAX_INSTRUCTION - 1] + "…"

    def detect(self, image: ImageContents) -> DetectorOutcome:
        config = image.config
        if not isinstance(config, ImageConfig):
            return DetectorOutcome(category=self.category)
        inner: dict[str, Any] = config.raw.get("config") or {}
        if not isinstance(inner, dict):
            inner = {}
        instructions = [i for i in (instruction_of(h.created_by) for h in config.history) if i]
        found: set[tuple[str, str]] = set()
        found.update(self._history(instructions))
        found.update(self._config(inner, instructions))
        return DetectorOutcome(
            category=self.category,
            findings=tuple(
                sorted(
                    BuildRiskFinding(
                        rule_id=rule_id,
                        behavior=RULES[rule_id].behavior,
                        type=RULES[rule_id].type,
                        level=RULES[rule_id].level,
                        description=RULES[rule_id].description,
                        instruction=self.redact(instruction),
                    )
                    for rule_id, instruction in found
                )
            ),
        )

    def _history(self, instructions: Iterable[str]) -> Iterable[tuple[str, str]]:
        for ins in instructions:
            keyword = ins.split(None, 1)[0].upper()
            if keyword == "ADD" and _ADD_URL.match(ins) and not _ADD_CHECKSUM.match(ins):
                yield "add-from-url", ins
            if keyword == "RUN":
                if _PIPE_SHELL.search(ins):
                    yield "curl-pipe-shell", ins
                if _CHMOD.search(ins):
                    yield "chmod-777", ins
                if _SSH_PKG.search(ins):
                    yield "ssh-server-installed", ins
            if keyword in ("RUN", "LABEL", "CMD", "ENTRYPOINT", "VOLUME") and _PRIVILEGED.search(
                ins
            ):
                yield "privileged-hint", ins
            if keyword == "FROM":
                m = _FROM.match(ins)
                if m and _tag_of(m.group(1)) in ("", "latest") and m.group(1) != "scratch":
                    yield "latest-base-tag", ins
            if keyword in ("ARG", "RUN"):
                yield from self._build_args(ins)

    def _build_args(self, ins: str) -> Iterable[tuple[str, str]]:
        body = ins.split(None, 1)[1] if " " in ins else ""
        if ins.upper().startswith("RUN"):
            m = re.match(r"\|\d+\s+((?:\S+=\S*\s+)*)", body)
            pairs = m.group(1).split() if m else []
        else:
            pairs = body.split()
        for pair in pairs:
            name, eq, value = pair.partition("=")
            value = value.strip("\"'")
            if eq and value and is_secret_name(name) and not self.scanner.allows_value(value):
                yield "secret-in-build-arg", ins
                return

    def _config(
        self, inner: Mapping[str, Any], instructions: list[str]
    ) -> Iterable[tuple[str, str]]:
        user = str(inner.get("User") or "").strip()
        if user in _ROOT_USERS:
            last_user = next(
                (i for i in reversed(instructions) if i.upper().startswith("USER")), None
            )
            yield "run-as-root", last_user or "(no USER instruction)"
        ports = inner.get("ExposedPorts") or {}
        if isinstance(ports, dict) and any(str(p).split("/")[0] == "22" for p in ports):
            expose = next(
                (
                    i
                    for i in instructions
                    if i.upper().startswith("EXPOSE") and re.search(r"(?<!\d)22(?!\d)", i)
                ),
                "EXPOSE 22/tcp",
            )
            yield "ssh-port-exposed", expose
        volumes = inner.get("Volumes") or {}
        if isinstance(volumes, dict) and any("docker.sock" in str(v) for v in volumes):
            yield "privileged-hint", "VOLUME /var/run/docker.sock"
        labels = inner.get("Labels") or {}
        if isinstance(labels, dict):
            for key, value in sorted(labels.items()):
                text = f"LABEL {key}={value}"
                if _PRIVILEGED.search(str(value)):
                    yield "privileged-hint", text
                if key in _BASE_LABELS and _tag_of(str(value)) in ("", "latest"):
                    yield "latest-base-tag", text
        env = inner.get("Env") or []
        if isinstance(env, list):
            for entry in env:
                name, eq, value = str(entry).partition("=")
                if eq and value and is_secret_name(name) and not self.scanner.allows_value(value):
                    source = next(
                        (
                            i
                            for i in instructions
                            if i.upper().startswith("ENV")
                            and re.search(rf"\b{re.escape(name)}\b", i)
                        ),
                        f"ENV {name}={value}",
                    )
                    yield "secret-in-env", source
