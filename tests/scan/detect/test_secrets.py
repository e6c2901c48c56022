"""The secret rules one by one, redaction, allow-lists, operator rule files, and the SECRET
detector on the image config and history."""

from __future__ import annotations

import base64
import re
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagewarden.scan.analyzer.base import FileInfo
from imagewarden.scan.detect.base import FindingCategory
from imagewarden.scan.detect.secrets import ENV_PATH, HISTORY_PATH, SecretDetector
from imagewarden.scan.model import Digest, ImageContents
from imagewarden.scan.secrets import MASK, RuleError, SecretRules, SecretScanner
from imagewarden.scan.secrets.rules import PathGlobs, glob_regex
from imagewarden.scan.secrets.scanner import KeywordSearch
from imagewarden.scan.source.base import HistoryEntry, ImageConfig

SCANNER = SecretScanner()
B64 = base64.b64encode(bytes(range(256)) * 2).decode()
PEM_BODY = "\n".join(B64[i : i + 64] for i in range(0, 320, 64))
GCP_KEY = "-----BEGIN PRIVATE KEY-----\\n" + B64[:200] + "\\n-----END PRIVATE KEY-----\\n"
AZURE_KEY = ("Zm9vYmFy" * 11)[:86] + "=="

# (rule id, path, file text, the secret that must be found and never shown)
POSITIVE = [
    (
        "private-key",
        "k.pem",
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n",
        B64[:64],
    ),
    (
        "private-key",
        "k",
        f"-----BEGIN EC PRIVATE KEY-----\n{PEM_BODY}\n-----END EC PRIVATE KEY-----",
        B64[64:128],
    ),
    (
        "private-key",
        "k.asc",
        f"-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n{PEM_BODY}\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----\n",
        B64[:64],
    ),
    (
        "gcp-service-account",
        "sa.json",
        f'{{"type": "service_account", "project_id": "p", "private_key": "{GCP_KEY}"}}',
        B64[:200],
    ),
    ("aws-access-key-id", "c", "id = AKIAZ2XQ7TPLMNB3VWYE\n", "AKIAZ2XQ7TPLMNB3VWYE"),
    (
        "aws-secret-access-key",
        "root/.aws/credentials",
        "[default]\naws_secret_access_key = Zx8/Lq3+Vb7nM2kP9sT4wR6yU1iO5aE0dF3gH7jK\n",
        "Zx8/Lq3+Vb7nM2kP9sT4wR6yU1iO5aE0dF3gH7jK",
    ),
    (
        "tencent-secret-id",
        "c",
        "SecretId: AKIDab12CD34ef56GH78ij90KL12mn34OP56\n",
        "AKIDab12CD34ef56GH78ij90KL12mn34OP56",
    ),
    (
        "tencent-secret-key",
        "root/.tccli/default.credential",
        '{"secretKey": "Qw12Er34Ty56Ui78Op90As12Df34Gh56"}',
        "Qw12Er34Ty56Ui78Op90As12Df34Gh56",
    ),
    (
        "azure-storage-account-key",
        "c",
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net\n",
        AZURE_KEY,
    ),
    (
        "azure-shared-access-key",
        "c",
        "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=R;SharedAccessKey="
        + "k" * 43
        + "=\n",
        "k" * 43 + "=",
    ),
    ("github-token", "c", "token=ghp_" + "aB3" * 12 + "\n", "ghp_" + "aB3" * 12),
    (
        "github-fine-grained-token",
        "c",
        "github_pat_" + "x1Y2_" * 16 + "ab\n",
        "github_pat_" + "x1Y2_" * 16 + "ab",
    ),
    ("gitlab-token", "c", "GITLAB=glpat-Ab3dEf6hIj9kLm2nOp5q\n", "glpat-Ab3dEf6hIj9kLm2nOp5q"),
    (
        "slack-token",
        "c",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx\n",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    ),
    (
        "slack-webhook",
        "c",
        "url=https://hooks.slack.com/services/T01ABCDEF/B02GHIJKL/abcdefghijklmnopqrstuvwx\n",
        "T01ABCDEF/B02GHIJKL/abcdefghijklmnopqrstuvwx",
    ),
    (
        "jwt",
        "c",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoiYm9iIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ\n",
        "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoiYm9iIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    ),
    (
        "database-url-password",
        "c",
        "DATABASE_URL: postgresql://shop:Tr0ub4dor3@db:5432/shop\n",
        "Tr0ub4dor3",
    ),
    # spellings the narrower keywords (schemes with "://", gh?_/gl*- prefixes, the
    # secret[_-]key family) must all still let through
    (
        "database-url-password",
        "c",
        "MONGO=mongodb+srv://app:Pa55w0rd9@cluster0.example.net/db\n",
        "Pa55w0rd9",
    ),
    ("database-url-password", "c", "cache: REDISS://default:Hunter22x@cache:6380/0\n", "Hunter22x"),
    ("github-token", "c", "GH_TOKEN=ghs_" + "Zz9" * 12 + "\n", "ghs_" + "Zz9" * 12),
    ("gitlab-token", "c", "runner: glrt-Xy7Xy7Xy7Xy7Xy7Xy7Xy7Xy\n", "glrt-Xy7Xy7Xy7Xy7Xy7Xy7Xy7Xy"),
    (
        "aws-secret-access-key",
        "c",
        "Secret-Access_Key: Zx8/Lq3+Vb7nM2kP9sT4wR6yU1iO5aE0dF3gH7jK\n",
        "Zx8/Lq3+Vb7nM2kP9sT4wR6yU1iO5aE0dF3gH7jK",
    ),
    (
        "tencent-secret-key",
        "c",
        "TENCENTCLOUD_SECRET_KEY=Qw12Er34Ty56Ui78Op90As12Df34Gh56\n",
        "Qw12Er34Ty56Ui78Op90As12Df34Gh56",
    ),
    (
        "tencent-secret-key",
        "c",
        "qcloud-secretkey: 'Qw12Er34Ty56Ui78Op90As12Df34Gh56'\n",
        "Qw12Er34Ty56Ui78Op90As12Df34Gh56",
    ),
    ("dotenv-secret", "srv/.env", "MYSQL_ROOT_PASSWORD=Sup3r-Secr3t\n", "Sup3r-Secr3t"),
    (
        "dotenv-secret",
        "srv/.env.production",
        "export STRIPE_API_KEY='sk_live_abcdef123456'\n",
        "sk_live_abcdef123456",
    ),
    (
        "properties-password",
        "app/application.properties",
        "spring.datasource.password=Tr0ub4dor3\n",
        "Tr0ub4dor3",
    ),
    (
        "python-settings-secret",
        "app/shop/settings.py",
        "SECRET_KEY = 'k3y-for-real-q8w7e6r5t4'\nDATABASES = {'default': {'PASSWORD': 'Db-pa55word'}}\n",
        "k3y-for-real-q8w7e6r5t4",
    ),
    (
        "python-settings-secret",
        "app/shop/settings.py",
        "SECRET_KEY = 'k3y-for-real-q8w7e6r5t4'\nDATABASES = {'default': {'PASSWORD': 'Db-pa55word'}}\n",
        "Db-pa55word",
    ),
    (
        "wordpress-config-secret",
        "var/www/html/wp-config.php",
        "define( 'DB_PASSWORD', 'Wp-pa55word!' );\n",
        "Wp-pa55word!",
    ),
    (
        "npmrc-auth",
        "root/.npmrc",
        "//registry.npmjs.org/:_authToken=npm_AbCdEf1234567890\n",
        "npm_AbCdEf1234567890",
    ),
    (
        "pypirc-password",
        "root/.pypirc",
        "[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc\n",
        "pypi-AgEIcHlwaS5vcmc",
    ),
    (
        "docker-config-auth",
        "root/.docker/config.json",
        '{"auths": {"r.example.com": {"auth": "dXNlcjpTM2NyM3Q="}}}',
        "dXNlcjpTM2NyM3Q=",
    ),
    (
        "kubeconfig-credential",
        "root/.kube/config",
        "users:\n- name: admin\n  user:\n    token: kube-Tok3n-abcdef0123\n",
        "kube-Tok3n-abcdef0123",
    ),
    (
        "shadow-password-hash",
        "etc/shadow",
        "root:$6$salt1234$Xy9fLk2.QwErTyUiOp/AsDfGhJkL:19000:0:99999:7:::\n",
        "$6$salt1234$Xy9fLk2.QwErTyUiOp/AsDfGhJkL",
    ),
]


@pytest.mark.parametrize(("rule_id", "path", "text", "secret"), POSITIVE)
def test_each_rule_finds_and_redacts(rule_id: str, path: str, text: str, secret: str) -> None:
    matches = SCANNER.find(text.encode(), path)
    assert rule_id in {m.rule_id for m in matches}, matches
    for m in matches:
        assert secret not in m.excerpt
        assert secret[:12] not in m.excerpt
    finding = SCANNER.finding(next(m for m in matches if m.rule_id == rule_id), "/" + path)
    assert finding.category is FindingCategory.SECRET
    assert secret not in repr(finding)


NEGATIVE = [
    (
        "AWS documentation example",
        "c",
        "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("a private key header without a key", "c", "write -----BEGIN RSA PRIVATE KEY----- first\n"),
    (
        "placeholders in .env",
        "app/.env",
        "DB_PASSWORD=${DB_PASSWORD}\nAPI_KEY=<api key>\nTOKEN=changeme\nSECRET=\nPASSWORD_FILE=/run/secrets/db\n",
    ),
    ("a password-ish name that is not one", "app/.env", "NGINX_PASSENGER=enabled-on-all\n"),
    (
        "locked and empty shadow entries",
        "etc/shadow",
        "root:*:1::::::\nbin:!:1::::::\nx:!*:1::::::\n",
    ),
    (
        "shadow rule outside /etc",
        "tmp/shadow",
        "u:$6$salt1234$Xy9fLk2.QwErTyUiOp/AsDfGhJkL:1::::::\n",
    ),
    (
        "the jwt.io example",
        "c",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    ("a database URL placeholder", "c", "postgres://user:password@localhost/db\n"),
    (
        "settings reading the environment",
        "app/settings.py",
        "SECRET_KEY = os.environ['SECRET_KEY']\n",
    ),
    ("binary data", "c", "\x00\x01AKIAZ2XQ7TPLMNB3VWYE"),
    (
        "wp-config-sample defaults",
        "wp-config.php",
        "define( 'AUTH_KEY', 'put your unique phrase here' );\n",
    ),
]


@pytest.mark.parametrize(("why", "path", "text"), NEGATIVE, ids=[n[0] for n in NEGATIVE])
def test_not_a_secret(why: str, path: str, text: str) -> None:
    assert SCANNER.find(text.encode(), path) == []


def test_wants_skips_binaries_docs_test_fixtures_and_big_files() -> None:
    def wants(path: str, size: int = 100) -> bool:
        return SCANNER.wants(PurePosixPath(path), FileInfo(PurePosixPath(path), size, 0o644))

    assert wants("app/.env") and wants("etc/shadow") and wants("usr/bin/script")
    assert not wants("usr/lib/x86_64-linux-gnu/libssl.so.3")
    assert not wants("app/logo.png") and not wants("app/lib.jar")
    assert not wants("usr/share/doc/openssl/README")
    assert not wants("usr/lib/python3/dist-packages/cryptography/tests/keys/rsa.pem")
    assert not wants("app/.env", 0) and not wants("app/big.txt", 5 * 1024 * 1024)


def test_two_secrets_on_one_line_are_both_masked() -> None:
    text = (
        b"creds AKIAZ2XQ7TPLMNB3VWYE secret_access_key=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\n"
    )
    matches = SCANNER.find(text, "c")
    assert {m.rule_id for m in matches} == {"aws-access-key-id", "aws-secret-access-key"}
    for m in matches:
        assert m.excerpt == f"creds {MASK} secret_access_key={MASK}"


def test_long_lines_are_trimmed_around_the_match() -> None:
    text = ("x" * 500 + " token=ghp_" + "aB3" * 12 + " " + "y" * 500).encode()
    (m,) = SCANNER.find(text, "c")
    assert MASK in m.excerpt and len(m.excerpt) <= 125


def test_operator_rules_replace_extend_and_allow(tmp_path: Path) -> None:
    extra = tmp_path / "rules.toml"
    extra.write_text(
        """
[allow]
paths = ["srv/fixtures/**"]

[[rule]]
id = "acme-token"
category = "ACME"
title = "ACME API token"
severity = "high"
keywords = ["acme_"]
regex = '''(?P<secret>acme_[a-z0-9]{16})'''

[[rule]]
id = "jwt"
category = "JWT"
title = "JSON Web Token (disabled here)"
severity = "LOW"
keywords = ["never-present-keyword"]
regex = '''(?!)'''
"""
    )
    scanner = SecretScanner.from_files([extra])
    assert scanner.fingerprint() != SCANNER.fingerprint()
    assert [m.rule_id for m in scanner.find(b"t = acme_0123456789abcdef\n", "app/x")] == [
        "acme-token"
    ]
    jwt = POSITIVE[15][2].encode()
    assert SCANNER.find(jwt, "c") and not scanner.find(jwt, "c")
    assert scanner.find(b"acme_0123456789abcdef", "srv/fixtures/a") == []
    assert not scanner.wants(
        PurePosixPath("srv/fixtures/a"), FileInfo(PurePosixPath("srv/fixtures/a"), 10, 0)
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[[rule]]\nid = 'x'\n", "category is required"),
        (
            "[[rule]]\nid='x'\ncategory='c'\ntitle='t'\nseverity='HUGE'\nregex='a'\nkeywords=['a']\n",
            "unknown severity",
        ),
        (
            "[[rule]]\nid='x'\ncategory='c'\ntitle='t'\nseverity='LOW'\nregex='('\nkeywords=['a']\n",
            "bad regex",
        ),
        (
            "[[rule]]\nid='x'\ncategory='c'\ntitle='t'\nseverity='LOW'\nregex='a'\n",
            "without keywords",
        ),
        (
            "[[rule]]\nid='x'\ncategory='c'\ntitle='t'\nseverity='LOW'\nregex='a'\nkeywords=['a']\ncolour=1\n",
            "unknown field",
        ),
        ("[rules]\n", "unknown table"),
        ("not toml = = =", "rules.toml"),
    ],
)
def test_bad_rule_files_are_rule_errors(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RuleError, match=error):
        SecretRules.load([path])


def test_builtin_rules_cover_the_required_kinds() -> None:
    ids = {r.id for r in SCANNER.rules.rules}
    assert ids >= {
        "private-key", "aws-access-key-id", "aws-secret-access-key", "tencent-secret-id",
        "tencent-secret-key", "gcp-service-account", "azure-storage-account-key", "github-token",
        "gitlab-token", "slack-token", "jwt", "dotenv-secret", "properties-password",
        "python-settings-secret", "wordpress-config-secret", "npmrc-auth", "pypirc-password",
        "docker-config-auth", "kubeconfig-credential", "shadow-password-hash",
    }  # fmt: skip
    assert {r.id for r in SCANNER.rules.rules if not r.keywords} == {"shadow-password-hash"}


def _contents(env: tuple[str, ...], history: tuple[str, ...]) -> ImageContents:
    config = ImageConfig(
        digest=Digest("sha256:" + "c" * 64),
        os="linux",
        architecture="amd64",
        created=None,
        diff_ids=(),
        history=tuple(HistoryEntry(None, h, False) for h in history),
        env=env,
    )
    return ImageContents(Digest(config.digest), None, (), config=config)


def test_detector_scans_env_and_history() -> None:
    tid, tkey = "AKIDab12CD34ef56GH78ij90KL12mn34OP56", "Qw12Er34Ty56Ui78Op90As12Df34Gh56"
    contents = _contents(
        (
            "PATH=/bin",
            f"TENCENTCLOUD_SECRET_ID={tid}",
            f"TENCENTCLOUD_SECRET_KEY={tkey}",
            "DB_PASSWORD=Sup3r-Secr3t",
        ),
        (
            "/bin/sh -c #(nop) ADD file:abc in /",
            "|1 NPM_TOKEN=npm_AbCdEf1234567890 /bin/sh -c npm ci",
            f"ENV TENCENTCLOUD_SECRET_KEY={tkey} # buildkit",
        ),
    )
    outcome = SecretDetector(SCANNER).detect(contents)
    got = {(f.rule_id, f.path, f.line) for f in outcome.findings}  # type: ignore[union-attr]
    assert got == {
        ("tencent-secret-id", ENV_PATH, 2),
        ("tencent-secret-key", ENV_PATH, 3),
        ("dotenv-secret", ENV_PATH, 4),
        ("dotenv-secret", HISTORY_PATH, 2),
        ("tencent-secret-key", HISTORY_PATH, 3),
    }
    text = repr(outcome)
    for secret in (tid, tkey, "Sup3r-Secr3t", "npm_AbCdEf1234567890"):
        assert secret not in text


# keywords over a two-letter alphabet, so that they overlap, nest and share prefixes and
# suffixes; the haystack is made of keywords and letters, so that they occur in it
_WORD = st.text("ab", min_size=1, max_size=4).map(str.encode)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), keywords=st.sets(_WORD, min_size=2, max_size=6))
def test_keyword_search_finds_exactly_the_keywords_present(
    data: st.DataObject, keywords: set[bytes]
) -> None:
    # one pass == a case-insensitive substring search per keyword (overlaps and nesting
    # included); the haystack's letters come in either case
    parts = data.draw(st.lists(st.sampled_from(sorted(keywords)) | _WORD | st.just(b"x")))
    upper = data.draw(st.lists(st.booleans(), min_size=len(parts), max_size=len(parts)))
    haystack = b"".join(p.upper() if u else p for p, u in zip(parts, upper, strict=True))
    expected = {k for k in keywords if k in haystack.lower()}
    assert KeywordSearch(keywords).present(haystack) == expected


# globs and paths over a small alphabet with the separators and wildcards, so that names,
# suffixes and prefixes collide; every shape PathGlobs answers without a regex is drawn
_GLOB_PART = st.sampled_from(["a", "b", ".e", "/", "*", "?", "**/", "**", "a/b"])
_PATH_PART = st.sampled_from(["a", "b", ".e", "/", "ab", "a.e", "x"])


@settings(max_examples=600, deadline=None)
@given(
    globs=st.lists(
        st.lists(_GLOB_PART, min_size=1, max_size=5).map("".join)
        | st.sampled_from(["**/a", "**/*.e", "a/**", "a/b", "**/.e.*", "**/a/b", "a/*.e"]),
        min_size=1,
        max_size=4,
    ),
    paths=st.lists(st.lists(_PATH_PART, min_size=1, max_size=6).map("".join), max_size=8),
)
def test_path_globs_match_as_their_regexes_do(globs: list[str], paths: list[str]) -> None:
    # the set/string shortcuts answer exactly what the anchored regexes of glob_regex do
    matcher = PathGlobs(globs)
    regex = re.compile("^(?:" + "|".join(glob_regex(g) for g in globs) + ")$")
    for path in [*paths, "a", "a/b", "x/a", "x/y.e", "a/x/y", ".e.x", "x/a/b"]:
        assert matcher.match(path) == (regex.match(path) is not None), (globs, path)
