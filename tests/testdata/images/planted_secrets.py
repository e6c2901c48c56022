"""Images with planted sensitive information and risky build steps (and a clean one).

Every secret here is fake: random characters in the shape of the real credential, made
from a fixed seed so the images are byte-identical on every run.  ``SECRETS`` lists the
strings that must never appear in any output.
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass

from tests.testdata.images.build import Dir, Image, make_image, make_layer

_RNG = random.Random(20240601)
_ALNUM = string.ascii_letters + string.digits


def _pick(alphabet: str, n: int) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


AWS_KEY_ID = "AKIA" + _pick(string.ascii_uppercase + "234567", 16)
AWS_SECRET = _pick(_ALNUM + "/+", 40)
TENCENT_ID = "AKID" + _pick(_ALNUM, 32)
TENCENT_KEY = _pick(_ALNUM, 32)
DB_PASSWORD = "Pw-" + _pick(_ALNUM, 14)
GITHUB_TOKEN = "ghp_" + _pick(_ALNUM, 36)
DELETED_TOKEN = "ghp_" + _pick(_ALNUM, 36)
REWRITTEN_PASSWORD = "Old-" + _pick(_ALNUM, 12)
_KEY_BODY = base64.b64encode(_RNG.randbytes(300)).decode()
SSH_KEY_BODY_LINES = [_KEY_BODY[i : i + 70] for i in range(0, len(_KEY_BODY), 70)]
SSH_PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    + "\n".join(SSH_KEY_BODY_LINES)
    + "\n-----END OPENSSH PRIVATE KEY-----\n"
)

#: every secret planted anywhere: none may appear in a report, a cache file or a log
SECRETS = (
    AWS_KEY_ID,
    AWS_SECRET,
    TENCENT_ID,
    TENCENT_KEY,
    DB_PASSWORD,
    GITHUB_TOKEN,
    DELETED_TOKEN,
    REWRITTEN_PASSWORD,
    *SSH_KEY_BODY_LINES,
)

ENV_FILE = (
    "# application settings\n"
    "APP_NAME=shop\n"
    f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\n"
    f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n"
    f"DB_PASSWORD={DB_PASSWORD}\n"
    "CACHE_PASSWORD=${CACHE_PASSWORD}\n"
)

CLEAN_FILES: dict[str, object] = {
    "etc": Dir(),
    "etc/os-release": 'ID=debian\nVERSION_ID="12"\n',
    "etc/passwd": "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n",
    "etc/shadow": "root:*:19000:0:99999:7:::\napp:!:19000:0:99999:7:::\n",
    "app": Dir(),
    "app/README.md": "Set AWS_SECRET_ACCESS_KEY=<your key> and DB_PASSWORD in .env\n",
    "app/.env.example": "DB_PASSWORD=changeme\nAPI_TOKEN=${API_TOKEN}\nSECRET_KEY=your-secret-key\n",
    "app/main.py": 'import os\nPASSWORD = os.environ["DB_PASSWORD"]\n',
    "app/docs.txt": "Keys look like -----BEGIN RSA PRIVATE KEY----- (never commit one)\n",
}


@dataclass(frozen=True)
class Planted:
    """Where each planted finding is expected: (rule id, path, line)."""

    image: Image
    expected: frozenset[tuple[str, str, int]]


def clean_image() -> Image:
    """No secrets, runs as a non-root user, nothing risky in the history."""
    return make_image(
        [CLEAN_FILES],
        config_extra={"User": "app", "ExposedPorts": {"8080/tcp": {}}},
        history=[
            {"created_by": "/bin/sh -c #(nop) ADD file:0a1b2c in / "},
            {"created_by": "/bin/sh -c #(nop)  USER app", "empty_layer": True},
        ],
    )


def secrets_image() -> Planted:
    """Secrets in files of two layers, in the config Env and in the history; a deleted
    and a rewritten secret in the lower layer that must not be reported."""
    lower = make_layer(
        {
            **CLEAN_FILES,
            "app/.env": ENV_FILE,
            "root": Dir(0o700),
            "root/.ssh": Dir(0o700),
            "root/.ssh/id_ed25519": SSH_PRIVATE_KEY,
            "app/old": Dir(),
            "app/old/token.txt": f"token: {DELETED_TOKEN}\n",
            "app/conf": Dir(),
            "app/conf/db.properties": f"db.user=shop\ndb.password={REWRITTEN_PASSWORD}\n",
            "opt/cache/creds.txt": f"GITHUB={DELETED_TOKEN}\n",
        }
    )
    upper = make_layer(
        [
            ("app/old/.wh.token.txt", b""),
            ("opt/cache/.wh..wh..opq", b""),
            ("app/conf/db.properties", b"db.user=shop\ndb.password=${DB_PASSWORD}\n"),
            ("home/app/.git-credentials", f"https://bot:{GITHUB_TOKEN}@github.com\n".encode()),
        ]
    )
    env = (
        "PATH=/usr/bin:/bin",
        f"TENCENTCLOUD_SECRET_ID={TENCENT_ID}",
        f"TENCENTCLOUD_SECRET_KEY={TENCENT_KEY}",
    )
    image = make_image(
        [lower, upper],
        env=env,
        history=[
            {"created_by": "/bin/sh -c #(nop) ADD file:0a1b2c in / "},
            {"created_by": "/bin/sh -c #(nop) COPY dir:3d4e5f in / "},
            {
                "created_by": f"/bin/sh -c #(nop)  ENV TENCENTCLOUD_SECRET_ID={TENCENT_ID} "
                f"TENCENTCLOUD_SECRET_KEY={TENCENT_KEY}",
                "empty_layer": True,
            },
        ],
    )
    expected = {
        ("aws-access-key-id", "/app/.env", 3),
        ("aws-secret-access-key", "/app/.env", 4),
        ("dotenv-secret", "/app/.env", 5),
        ("private-key", "/root/.ssh/id_ed25519", 1),
        ("github-token", "/home/app/.git-credentials", 1),
        ("tencent-secret-id", "config:Env", 2),
        ("tencent-secret-key", "config:Env", 3),
        ("tencent-secret-id", "config:history", 3),
        ("tencent-secret-key", "config:history", 3),
    }
    return Planted(image, frozenset(expected))
