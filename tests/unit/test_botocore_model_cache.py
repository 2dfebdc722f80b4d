"""The development environment's cache of botocore's parsed service models (scripts/botocore_model_cache.py)."""

from __future__ import annotations

import gzip
import importlib
import json
import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
botocore_model_cache = importlib.import_module("botocore_model_cache")

MODEL = {"metadata": {"apiVersion": "2016-11-15"}, "operations": {"B": {"http": {"method": "POST"}}, "A": {}}}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setattr(botocore_model_cache, "CACHE", str(folder))
    return folder


def _parse(path: str):
    if not os.path.isfile(path):
        return None
    with gzip.open(path, "rb") as fp:
        return json.loads(fp.read().decode("utf-8"), object_pairs_hook=OrderedDict)


def test_a_cached_model_is_what_parsing_gives_and_a_changed_file_is_parsed_again(cache: Path, tmp_path: Path) -> None:
    model = tmp_path / "service-2.json.gz"
    model.write_bytes(gzip.compress(json.dumps(MODEL).encode(), compresslevel=0, mtime=0))
    calls = []

    def counted(path, open_method):
        calls.append(path)
        return _parse(path)

    first = botocore_model_cache.cached_load(counted, str(model), gzip.open)
    again = botocore_model_cache.cached_load(counted, str(model), gzip.open)
    assert calls == [str(model)], "the second load came from the cache"
    assert again == first == MODEL
    assert isinstance(again, OrderedDict) and list(again["operations"]) == ["B", "A"]  # botocore's types and order
    # A new botocore (another file at the same path, of the same size, its times set back as `cp -p` sets them) is
    # parsed again, never served the old model.
    stat = model.stat()
    changed = {**MODEL, "metadata": {"apiVersion": "2099-01-01"}}
    model.write_bytes(gzip.compress(json.dumps(changed).encode(), compresslevel=0, mtime=0))
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (model.stat().st_size, model.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert botocore_model_cache.cached_load(counted, str(model), gzip.open)["metadata"]["apiVersion"] == "2099-01-01"
    assert len(calls) == 2
    # A file that does not exist is botocore's own answer, None, and caches nothing.
    assert botocore_model_cache.cached_load(counted, str(tmp_path / "absent.json"), open) is None


def test_a_damaged_entry_is_parsed_again_and_replaced(cache: Path, tmp_path: Path) -> None:
    model = tmp_path / "service-2.json.gz"
    model.write_bytes(gzip.compress(json.dumps(MODEL).encode()))
    botocore_model_cache.cached_load(lambda p, m: _parse(p), str(model), gzip.open)
    (entry,) = [p for p in cache.rglob("*") if p.is_file()]
    entry.write_bytes(b"not a pickle")
    assert botocore_model_cache.cached_load(lambda p, m: _parse(p), str(model), gzip.open) == MODEL
    assert pickle.loads(entry.read_bytes()) == MODEL, "the damaged entry is written whole again"


def test_an_entry_holding_anything_but_a_model_is_never_unpickled(cache: Path, tmp_path: Path) -> None:
    model = tmp_path / "service-2.json.gz"
    model.write_bytes(gzip.compress(json.dumps(MODEL).encode()))
    botocore_model_cache.cached_load(lambda p, m: _parse(p), str(model), gzip.open)
    (entry,) = [p for p in cache.rglob("*") if p.is_file()]
    planted = tmp_path / "planted"

    class Planted:
        def __reduce__(self):
            return (os.system, (f"touch {planted}",))

    entry.write_bytes(pickle.dumps(Planted(), protocol=5))
    assert botocore_model_cache.cached_load(lambda p, m: _parse(p), str(model), gzip.open) == MODEL
    assert not planted.exists()
    assert pickle.loads(entry.read_bytes()) == MODEL, "replaced by the model"


def test_a_cache_that_cannot_be_written_parses_once(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "service-2.json.gz"
    model.write_bytes(gzip.compress(json.dumps(MODEL).encode()))
    calls = []

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pickle, "dump", full)
    loaded = botocore_model_cache.cached_load(lambda p, m: calls.append(p) or _parse(p), str(model), gzip.open)
    assert loaded == MODEL and len(calls) == 1
    assert [p for p in cache.rglob("*") if p.is_file()] == [], "no partial entry left behind"


def test_installed_it_serves_botocores_own_models_and_can_be_turned_off(tmp_path: Path) -> None:
    """In a fresh interpreter: botocore's loader goes through the cache once enabled, and the clients it builds are
    the same; STAGEFLOW_BOTOCORE_CACHE=0 leaves botocore as it is."""
    script = (
        "import os, sys; os.environ['STAGEFLOW_BOTOCORE_CACHE'] = sys.argv[3]; sys.path.insert(0, sys.argv[1]); "
        "import botocore_model_cache as c; c.CACHE = sys.argv[2]; "
        "c.enable(); import botocore.loaders as L, botocore.session as s; "
        "import hashlib, json; loader = s.get_session().get_component('data_loader'); "
        "m = loader.load_service_model('ec2', 'service-2'); "
        "print(getattr(L.JSONFileLoader._load_file, '_stageflow_cached', False), "
        "hashlib.sha256(json.dumps(m).encode()).hexdigest())"
    )
    # The copy `make venv` installed stays off (it is enabled at start-up); this one is enabled after.
    env = {**os.environ, "STAGEFLOW_BOTOCORE_CACHE": "0"}
    folder = tmp_path / "cache"

    def run(switch: str) -> list[str]:
        args = [sys.executable, "-c", script, str(ROOT / "scripts"), str(folder), switch]
        return subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout.split()

    off = run("0")
    assert not folder.exists()
    on = [run("1"), run("1")]
    entries = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    assert entries, "the models were cached"
    again = run("1")
    assert on[0] == on[1] == again == ["True", off[1]] and off[0] == "False"  # the same model, parsed or cached
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == entries, "read, not written again"
