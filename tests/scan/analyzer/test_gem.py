"""gem analyzer: Debian's installed gemspecs against `gem list --local`, and textual variants."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from imagewarden.scan.analyzer.base import FileInfo, LayerFile
from imagewarden.scan.analyzer.gem import GemAnalyzer, parse_gemspec
from imagewarden.scan.model import ComponentType, LayerFacts


def _analyze(files: dict[str, str]) -> LayerFacts:
    return GemAnalyzer().analyze(
        {
            PurePosixPath(k): LayerFile(PurePosixPath(k), len(v.encode()), 0o644, v.encode())
            for k, v in files.items()
        }
    )


def test_wants() -> None:
    a = GemAnalyzer()

    def w(path: str) -> bool:
        return a.wants(PurePosixPath(path), FileInfo(PurePosixPath(path), 1, 0o644))

    assert w("usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec")
    assert w("usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec")
    assert w("usr/local/bundle/specifications/rails-7.0.0.gemspec")
    assert not w("app/rails.gemspec")  # a gem's source tree
    assert not w("usr/lib/ruby/gems/3.1.0/specifications/default/x.rb")


@pytest.mark.slow
def test_debian_ruby_gems_match_gem_list() -> None:
    if shutil.which("gem") is None:
        pytest.skip("apt-get install ruby")
    gempath = subprocess.run(
        ["gem", "env", "gempath"], check=True, capture_output=True, text=True
    ).stdout.strip()
    listing = subprocess.run(
        ["gem", "list", "--local"], check=True, capture_output=True, text=True
    ).stdout
    want = set()
    for line in listing.splitlines():
        m = re.match(r"^(\S+) \((.*)\)$", line)
        assert m, line
        for v in m.group(2).split(", "):
            want.add((m.group(1), v.removeprefix("default: ").split(" ")[0]))
    a = GemAnalyzer()
    files = {}
    for d in gempath.split(":"):
        root = Path(d) / "specifications"
        if not root.is_dir():
            continue
        for f in sorted(root.rglob("*.gemspec")):
            p = PurePosixPath(f.as_posix().lstrip("/"))
            if a.wants(p, FileInfo(p, f.stat().st_size, 0o644)):
                data = f.read_bytes()
                files[p] = LayerFile(p, len(data), 0o644, data)
    facts = a.analyze(files)
    assert facts.unknowns == ()
    assert len(facts.components) == len(files) > 20
    assert {(c.name, c.version) for c in facts.components} == want
    rake = next(c for c in facts.components if c.name == "rake")
    assert rake.purl == f"pkg:gem/rake@{rake.version}" and rake.type is ComponentType.GEM


RAKE_STYLE = """\
# -*- encoding: utf-8 -*-
# stub: rake 13.0.6 ruby lib

Gem::Specification.new do |s|
  s.name = "rake".freeze
  s.version = "13.0.6"
  s.summary = "s.version = \\"0.0.0\\" in a string does not count".freeze
end
"""
SPEC_STYLE = """\
Gem::Specification.new do |spec|
  spec.name          = 'my_gem'
  spec.version       = Gem::Version.new('2.0.0.pre1')
end
"""
ARGS_STYLE = 'Gem::Specification.new("nokogiri", "1.15.4") { |g| g.summary = "x" }\n'
BRACE_STYLE = """\
Gem::Specification.new { |gem|
  gem.name = "pg"
  gem.version = "1.5.4".freeze
}
"""
STUB_ONLY = "# stub: racc 1.6.0 ruby lib\nGem::Specification.new do |s| s.foo = 1 end\n"


def test_textual_variants() -> None:
    assert parse_gemspec(RAKE_STYLE) == ("rake", "13.0.6")
    assert parse_gemspec(SPEC_STYLE) == ("my_gem", "2.0.0.pre1")
    assert parse_gemspec(ARGS_STYLE) == ("nokogiri", "1.15.4")
    assert parse_gemspec(BRACE_STYLE) == ("pg", "1.5.4")
    assert parse_gemspec(STUB_ONLY) == ("racc", "1.6.0")


def test_malformed_gemspecs_are_unknowns() -> None:
    spec = "usr/local/bundle/specifications"
    facts = _analyze(
        {
            f"{spec}/ok-1.0.gemspec": SPEC_STYLE,
            f"{spec}/dyn.gemspec": "Gem::Specification.new do |s|\n  s.name = NAME\n"
            "  s.version = VERSION\nend\n",
            f"{spec}/empty.gemspec": "",
            f"{spec}/weird.gemspec": 'Gem::Specification.new do |s|\n s.name = "a b"\n'
            ' s.version = "1"\nend\n',
        }
    )
    assert [(c.name, c.version, c.path) for c in facts.components] == [
        ("my_gem", "2.0.0.pre1", f"{spec}/ok-1.0.gemspec")
    ]
    assert [u.path for u in facts.unknowns] == [
        f"{spec}/dyn.gemspec",
        f"{spec}/empty.gemspec",
        f"{spec}/weird.gemspec",
    ]
