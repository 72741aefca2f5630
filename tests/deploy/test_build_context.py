"""Secrets stay out of git and out of the image's build context; what the Dockerfile copies stays in.

``ml-platform compose-env`` writes ``.env`` at the repository root and ``ml-platform up`` writes
``.platform/secrets.json``: neither may be committed nor sent to a Docker daemon with ``docker build .``.
"""

import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

SECRETS = [".env", ".env.production", ".platform/secrets.json", ".platform/airflow-passwords.json",
           "config/.env", "deploy/tls.key"]
LOCAL_STATE = [".venv/bin/python", ".uv-bootstrap/uv", "src/ml_pipeline/__pycache__/config.cpython-311.pyc",
               "benchmarks/.work/run.json", "mlruns/0/meta.yaml", "mlflow.db", ".git/config", ".pytest_cache/v"]


def dockerignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _regex(pattern: str) -> re.Pattern:
    """Docker's pattern syntax: ``**`` any number of folders, ``*`` and ``?`` within one name."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out, i = out + {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])), i + 1
    return re.compile(out)


def docker_ignores(path: str, patterns: list[str]) -> bool:
    """Whether ``docker build`` leaves ``path`` out: the last matching pattern wins, a folder's match covers it."""
    parts = path.split("/")
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch("/".join(parts[:depth])) for depth in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


def dockerfile_sources() -> list[str]:
    """Every path the Dockerfile copies from the build context."""
    sources = []
    for line in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith(("COPY", "ADD")):
            words = [w for w in line.split()[1:] if not w.startswith("--")]
            sources += words[:-1]
    return sources


@pytest.mark.parametrize("path", SECRETS + LOCAL_STATE)
def test_secrets_and_local_state_stay_out_of_the_build_context(path):
    assert docker_ignores(path, dockerignore_patterns()), f".dockerignore lets {path} into the image's context"


def test_what_the_dockerfile_copies_is_in_the_build_context():
    sources = dockerfile_sources()
    assert {"src", "config", "airflow/dags", "pyproject.toml", "uv.lock"} <= set(sources)
    assert [s for s in sources if docker_ignores(s, dockerignore_patterns())] == []
    assert not docker_ignores("src/ml_pipeline/config.py", dockerignore_patterns())


@pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("path", SECRETS)
def test_secrets_are_ignored_by_git(path):
    result = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, f".gitignore lets {path} be committed"
