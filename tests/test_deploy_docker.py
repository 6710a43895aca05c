"""The Docker build and compose file, checked without a Docker engine.

The build context is evaluated the way BuildKit evaluates it: e2b-dockerfile-utils ports
BuildKit's Dockerfile parser and moby/patternmatcher (``**``, ``!`` exceptions, last match wins,
a pattern that matches a directory matches what is under it, paths relative to the context), and
``_context_files`` walks the context like BuildKit's file walker (tonistiigi/fsutil): an excluded
directory is skipped unless a ``!`` pattern may re-include something under it.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from e2b_dockerfile_utils import PatternMatcher, parse_dockerfile_ast
from stack import REPO

DOCKERFILES = sorted(p for p in (REPO / "deploy").rglob("Dockerfile*") if not p.name.endswith(".dockerignore"))
COMPOSE = REPO / "docker-compose.yaml"
PACKAGES = ("oracle_api/telemetron_oracle_api", "instrumentation/telemetron_instrumentation")


# --- the build context, as BuildKit sees it -----------------------------------------------------


def _ignore_file(dockerfile: Path, context: Path) -> Path | None:
    """BuildKit prefers ``<Dockerfile>.dockerignore`` beside the Dockerfile, then ``<context>/.dockerignore``."""
    for candidate in (dockerfile.with_name(dockerfile.name + ".dockerignore"), context / ".dockerignore"):
        if candidate.is_file():
            return candidate
    return None


def _matcher(dockerfile: Path, context: Path = REPO) -> PatternMatcher:
    ignore = _ignore_file(dockerfile, context)
    return PatternMatcher(ignore.read_text().splitlines() if ignore else [])


def _context_files(context: Path, matcher: PatternMatcher) -> set[str]:
    """Every file BuildKit sends for ``context`` (slash-separated, relative to it)."""
    files: set[str] = set()
    for top, dirs, names in os.walk(context):
        rel_top = os.path.relpath(top, context)
        prefix = "" if rel_top == "." else rel_top + "/"
        dirs[:] = [d for d in dirs if not matcher.matches(prefix + d) or matcher.may_match_under(prefix + d)]
        files.update(prefix + n for n in names if not matcher.matches(prefix + n))
    return files


def _under(files: set[str], source: str) -> set[str]:
    """The context files a COPY source names: the file itself, a directory's tree, or a wildcard's matches."""
    source = source.strip("/") if source not in (".", "./") else ""
    if any(c in source for c in "*?["):
        return {f for f in files if fnmatch.fnmatchcase(f, source) or fnmatch.fnmatchcase(f.split("/")[0], source)}
    return {f for f in files if not source or f == source or f.startswith(source + "/")}


@dataclass
class Stage:
    name: str
    instructions: list = field(default_factory=list)


def _stages(dockerfile: Path) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in parse_dockerfile_ast(dockerfile.read_text()).instructions:
        if instruction.name == "FROM":
            args = instruction.args
            stages.append(Stage(args[2] if len(args) > 2 and args[1].upper() == "AS" else str(len(stages))))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def _from_stage(instruction) -> str | None:
    return next((f.split("=", 1)[1] for f in instruction.flags if f.startswith("--from=")), None)


def _context_sources(dockerfile: Path) -> list[str]:
    """The context paths every COPY/ADD without ``--from`` reads (the last argument is the destination)."""
    return [
        source
        for stage in _stages(dockerfile)
        for i in stage.instructions
        if i.name in ("COPY", "ADD") and _from_stage(i) is None
        for source in i.args[:-1]
    ]


def _git(*args: str, stdin: str | None = None) -> list[str]:
    result = subprocess.run(["git", *args], cwd=REPO, input=stdin, capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.splitlines()


# --- the matcher behaves like moby/patternmatcher ----------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["**"], "a/b/c.txt", True),
        (["**", "!keep.txt"], "keep.txt", False),
        (["**", "!src/**"], "src/pkg/mod.py", False),
        (["**", "!src/**"], "other/mod.py", True),
        # The last matching line wins.
        (["**", "!src/**", "src/gen"], "src/gen/out.js", True),
        (["**", "src/gen", "!src/**"], "src/gen/out.js", False),
        # A pattern that matches a directory excludes its whole tree.
        (["build"], "build/x/y.o", True),
        (["**/__pycache__"], "a/b/__pycache__/m.pyc", True),
        (["*/cache"], "a/b/cache/x", False),
        # Paths are relative to the context: a leading slash means the same.
        (["/docs"], "docs/index.md", True),
        (["docs"], "sub/docs/index.md", False),
    ],
)
def test_ignore_matcher_follows_buildkit_rules(patterns: list[str], path: str, excluded: bool) -> None:
    assert PatternMatcher(patterns).matches(path) is excluded


def test_context_walk_skips_an_excluded_tree_unless_an_exception_reaches_into_it(tmp_path: Path) -> None:
    for rel in ("keep/a.txt", "keep/sub/b.txt", "drop/c.txt", "drop/sub/d.txt", "top.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    files = _context_files(tmp_path, PatternMatcher(["**", "!keep/**", "!drop/sub/d.txt"]))
    assert files == {"keep/a.txt", "keep/sub/b.txt", "drop/sub/d.txt"}


# --- every Dockerfile's context ------------------------------------------------------------------


def test_the_repository_has_a_dockerfile() -> None:
    assert REPO / "deploy" / "docker" / "Dockerfile" in DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_copy_source_is_in_the_build_context(dockerfile: Path) -> None:
    files = _context_files(REPO, _matcher(dockerfile))
    missing = [s for s in _context_sources(dockerfile) if not _under(files, s)]
    assert not missing, f"{dockerfile.name} copies {missing}, which the ignore file keeps out of the context"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_tracked_file_under_a_copy_source_reaches_the_image(dockerfile: Path) -> None:
    files = _context_files(REPO, _matcher(dockerfile))
    for source in _context_sources(dockerfile):
        tracked = set(_git("ls-files", "--", source.rstrip("/") or "."))
        assert tracked, f"{source} holds no tracked file"
        assert not tracked - files, f"tracked files under {source} left out of the context: {sorted(tracked - files)}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_locally_built_file_enters_the_build_context(dockerfile: Path) -> None:
    """Files git ignores (venvs, caches, node_modules, the locally vendored dashboard libraries) are built per machine."""
    files = _context_files(REPO, _matcher(dockerfile))
    ignored = _git("check-ignore", "--no-index", "--stdin", stdin="\n".join(sorted(files)))
    assert not ignored, f"git-ignored files in the build context: {ignored[:10]}"


# --- what the image's Python package carries ------------------------------------------------------


def _replay(stage: Stage, root: Path, files: set[str], roots: dict[str, Path], run: bool) -> None:
    """Replays a stage's WORKDIR and COPY steps under ``root`` (its ``/``), and its RUN steps when ``run``."""
    workdir = root
    for i in stage.instructions:
        if i.name == "WORKDIR":
            workdir = root / i.args[0].lstrip("/") if i.args[0].startswith("/") else workdir / i.args[0]
            workdir.mkdir(parents=True, exist_ok=True)
        elif i.name == "COPY":
            *sources, dest = i.args
            target = root / dest.lstrip("/") if dest.startswith("/") else workdir / dest
            origin = _from_stage(i)
            for source in sources:
                if origin is not None:
                    shutil.copytree(roots[origin] / source.lstrip("/"), target, dirs_exist_ok=True)
                    continue
                for rel in _under(files, source):
                    if rel == source.strip("/"):  # a file: into a directory, or onto one path
                        out = target / Path(rel).name if dest.endswith("/") or len(sources) > 1 else target
                    else:
                        out = target / rel[len(source.strip("/")) :].lstrip("/")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO / rel, out)
        elif i.name == "RUN" and run:
            # The Dockerfile's RUN steps use paths relative to WORKDIR, so they run here unchanged.
            subprocess.run(["bash", "-c", " ".join(i.args)], cwd=workdir, check=True, capture_output=True)


def test_image_package_carries_every_file_the_server_reads(tmp_path: Path) -> None:
    """Replays deploy/docker/Dockerfile: the dashboard-vendor stage for real (npm), then the final
    stage's copies; its `pip install .` is a wheel build here, so the wheel is what the image gets."""
    dockerfile = REPO / "deploy" / "docker" / "Dockerfile"
    files = _context_files(REPO, _matcher(dockerfile))
    *builders, final = _stages(dockerfile)
    roots: dict[str, Path] = {}
    for stage in builders:
        roots[stage.name] = tmp_path / stage.name
        _replay(stage, roots[stage.name], files, roots, run=True)
    _replay(final, tmp_path / "final", files, roots, run=False)
    app = tmp_path / "final" / "app"

    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"), str(app)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())

    data_files = {
        str(p.relative_to(app / package.split("/")[0]))
        for package in PACKAGES
        for p in (app / package).rglob("*")
        if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts
    }
    assert "telemetron_oracle_api/store/schema.sql" in data_files
    assert "telemetron_oracle_api/schema/oracle-state.schema.json" in data_files
    assert not data_files - shipped, f"left out of the image's package: {sorted(data_files - shipped)}"

    page = (app / PACKAGES[0] / "static" / "index.html").read_text()
    loaded = {"telemetron_oracle_api" + url for url in re.findall(r'"(/static/[^"]+)"', page)}
    assert {u for u in loaded if "/vendor/" in u}, "the dashboard page loads no vendored library"
    assert not loaded - shipped, f"the dashboard page loads files the image lacks: {sorted(loaded - shipped)}"


# --- docker-compose.yaml ---------------------------------------------------------------------------


def _check_compose(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_rejects_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:\n", "    healthchek:\n", 1))
    result = _check_compose(broken)
    assert result.returncode == 1 and "healthchek" in result.stdout


def test_compose_file_names_only_files_that_exist() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    build = compose["x-telemetron-image"]["build"]
    assert (REPO / build["context"] / build["dockerfile"]).is_file()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"service {name} mounts {source}, which does not exist"


def test_compose_comments_name_files_of_the_repository() -> None:
    tracked = set(_git("ls-files"))
    names = tracked | {Path(t).name for t in tracked}
    mentioned = re.findall(
        r"([\w./-]+\.(?:md|ya?ml|sh|py|xml))\b",
        "\n".join(line for line in COMPOSE.read_text().splitlines() if line.lstrip().startswith("#") or " # " in line),
    )
    assert mentioned and not set(mentioned) - names, f"the compose file mentions {sorted(set(mentioned) - names)}"
