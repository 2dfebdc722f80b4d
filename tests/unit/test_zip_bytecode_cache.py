"""The development environment's bytecode cache for zip imports (scripts/zip_bytecode_cache.py)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
zip_bytecode_cache = importlib.import_module("zip_bytecode_cache")

SOURCE = b"def answer():\n    return 40 + 2\n\nclass Thing:\n    def name(self):\n        return __file__\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setattr(zip_bytecode_cache, "CACHE", str(folder))
    return folder


def test_the_cached_code_is_the_compiled_code_with_the_file_it_was_imported_from(cache: Path) -> None:
    first = zip_bytecode_cache._compile_cached("/tmp/a.zip/mod.py", SOURCE)
    assert len(list(cache.rglob("*"))) == 2  # one folder, one entry
    again = zip_bytecode_cache._compile_cached("/tmp/b.zip/mod.py", SOURCE)  # another payload, the same source
    assert len(list(cache.rglob("*"))) == 2, "read from the cache, not written again"
    assert again.co_filename == "/tmp/b.zip/mod.py"
    nested = [c for c in again.co_consts if hasattr(c, "co_filename")]
    assert nested and all(c.co_filename == "/tmp/b.zip/mod.py" for c in nested)
    compiled = compile(SOURCE, "/tmp/b.zip/mod.py", "exec", dont_inherit=True)
    assert again.co_code == compiled.co_code == first.co_code
    namespace: dict = {"__file__": "x"}
    exec(again, namespace)
    assert namespace["answer"]() == 42


def test_a_damaged_entry_or_an_unwritable_cache_falls_back_to_compiling(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zip_bytecode_cache._compile_cached("/tmp/a.zip/mod.py", SOURCE)
    entry = next(p for p in cache.rglob("*") if p.is_file())
    entry.write_bytes(b"not marshal data")
    code = zip_bytecode_cache._compile_cached("/tmp/a.zip/mod.py", SOURCE)
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["answer"]() == 42
    assert not entry.exists(), "the damaged entry is dropped, so the next import writes it again"
    zip_bytecode_cache._compile_cached("/tmp/a.zip/mod.py", SOURCE)
    assert entry.exists()
    blocked = cache.parent / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(zip_bytecode_cache, "CACHE", str(blocked / "cache"))  # no folder can be made under a file
    other = zip_bytecode_cache._compile_cached("/tmp/a.zip/other.py", b"X = 1\n")
    assert other.co_filename == "/tmp/a.zip/other.py"
    assert not any(p.name != "a-file" for p in blocked.parent.iterdir() if p.is_file())


def test_a_module_imported_from_a_zip_uses_the_cache_in_a_new_interpreter(tmp_path: Path) -> None:
    payload = tmp_path / "payload.zip"
    with zipfile.ZipFile(payload, "w") as z:
        z.writestr("zipped_mod.py", SOURCE)
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import zip_bytecode_cache as c; "
        f"c.CACHE = {str(tmp_path / 'cache')!r}; c.enable(); sys.path.insert(0, {str(payload)!r}); "
        "import zipped_mod; print(zipped_mod.answer(), zipped_mod.answer.__code__.co_filename)"
    )
    for run in ("compiled", "from the cache"):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
        assert out == ["42", str(payload / "zipped_mod.py")], run
    assert len([p for p in (tmp_path / "cache").rglob("*") if p.is_file()]) == 1
