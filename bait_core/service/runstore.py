"""Runs saved as they go: one folder per run, written atomically after every round.

Layout of a runs folder (default ``./runs``; the environment variable ``BAIT_EXPLORER_RUNS_DIR``,
the app's ``-- --runs-dir DIR`` and the CLI's ``--runs-dir`` change it)::

    runs/<run id>/setup.json        what rebuilds the run: config, data and model source, file names
    runs/<run id>/record.json       the RunRecord so far (replaced atomically after each round)
    runs/<run id>/summary.json      a few fields for the "Recent runs" list (also atomic)
    runs/<run id>/init.safetensors  the model's initial weights (every round trains from them)
    runs/<run id>/data/<file>       the uploaded data file, byte for byte (uploads only)
    runs/<run id>/model/<file>      the uploaded model file, byte for byte (uploads only)

A run bundle (``RunStore.bundle``) is that folder as one ZIP: it opens on its own anywhere
(``RunStore.import_bundle`` checks every entry, copies it in as a run and ``resume`` continues it),
so a record of an uploaded file travels with its data.

Every file is written to a temporary name in the same folder, flushed to disk and renamed over the
old one (``os.replace`` is atomic on POSIX and Windows), so a crash mid-write leaves the previous
version, never half a file. Nothing here unpickles: weights are safetensors, records are JSON read
through the record schema, and a stored model file is read by the same vetted loader as an upload.

:data:`LIVE` keeps the runs this server process is working on, so a page reload (a new browser
session) re-attaches to the same run and its running job instead of starting a second one.
Nothing here imports streamlit.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from bait_core.learning.reading import ReadOptions

if TYPE_CHECKING:                                   # pragma: no cover
    from bait_core.service.explorer import Explorer

__all__ = ["RUNS_ENV", "RunSources", "RunStore", "RunSummary", "default_runs_dir", "atomic_write",
           "valid_run_id", "LIVE"]

RUNS_ENV = "BAIT_EXPLORER_RUNS_DIR"
SETUP_VERSION = 1
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_SETUP_BYTES = 1 << 20                           # setup.json / summary.json are small
MAX_BUNDLE_BYTES = 600 << 20                        # a bundle's uncompressed content, all entries together
_BUNDLE_FILES = ("setup.json", "record.json", "summary.json", "init.safetensors", "labels.json")


def default_runs_dir() -> Path:
    """``$BAIT_EXPLORER_RUNS_DIR`` if set, else ``./runs`` (relative to the working directory)."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


def valid_run_id(run_id: Any) -> bool:
    """True for ids this module makes (letters, digits, ``_ . -``; no path separators, no ``..``)."""
    return isinstance(run_id, str) and bool(_RUN_ID.match(run_id)) and ".." not in run_id


def _slug(text: str, n: int = 24) -> str:
    return (_SAFE_NAME.sub("-", text).strip("-.") or "run")[:n]


def _safe_filename(name: str) -> str:
    """The last path component of an uploaded file's name, made safe to store (keeps the extension)."""
    base = re.split(r"[\\/]", str(name or ""))[-1]
    return _slug(base, 80) or "upload"


def atomic_write(path: Union[str, Path], data: Union[bytes, str]) -> Path:
    """Write `data` to `path` atomically: a temporary file in the same folder, flushed and fsynced,
    then renamed over `path`. On any error the temporary file is removed and `path` keeps its old
    content. OSError propagates (the caller turns it into a sentence)."""
    path = Path(path)
    blob = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    try:                                            # make the rename itself durable (POSIX)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


@dataclass(frozen=True)
class RunSources:
    """What a run was built from, beyond its config: the uploaded files' bytes (None for built-ins)
    and the architecture of uploaded weights."""

    data_name: Optional[str] = None                 # the uploaded data file's name (e.g. "scans.zip")
    data_bytes: Optional[bytes] = None
    model_name: Optional[str] = None                # the uploaded model file's name
    model_bytes: Optional[bytes] = None
    arch: Optional[str] = None                      # architecture of uploaded weights (not for .pt2)
    n_points: Optional[int] = None                  # a built-in toy set's size, when not its default
    read_options: Optional[ReadOptions] = None      # how the uploaded data file was read


@dataclass(frozen=True)
class RunSummary:
    """One row of the "Recent runs" list."""

    run_id: str
    created: str
    updated: str
    dataset: str
    model: str
    strategy: str
    rounds: int
    n_labeled: int
    finished: bool
    path: Path


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunStore:
    """A runs folder. `save(explorer)` after every round; `list()`; `resume(run_id)`.

    Raises ValueError with a sentence for a run id that is malformed or not there, a folder that
    cannot be written, or a saved run that cannot be rebuilt (its data file changed, say)."""

    def __init__(self, root: Union[str, Path, None] = None) -> None:
        self.root = Path(root) if root is not None else default_runs_dir()

    # --- paths ------------------------------------------------------------------------------------
    def path(self, run_id: str) -> Path:
        if not valid_run_id(run_id):
            raise ValueError(f"{str(run_id)[:100]!r} is not a run id (letters, digits, '_', '.', '-' only).")
        return self.root / run_id

    def new_id(self, dataset_name: str, strategy: str) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{_slug(dataset_name)}-{_slug(strategy, 16)}-{secrets.token_hex(3)}"

    def check_writable(self) -> None:
        """ValueError with a sentence when the runs folder cannot be created or written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}-{secrets.token_hex(3)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise ValueError(f"The runs folder '{self.root}' cannot be written ({e.strerror or e}); choose another "
                             f"with the {RUNS_ENV} environment variable or --runs-dir.") from None

    # --- writing ----------------------------------------------------------------------------------
    def stamp(self, run_id: str) -> tuple:
        """What identifies the saved state of a run: (size, mtime_ns) of its record.json and labels.json
        (None for a file that is not there). Another program's write (the CLI's `next`) changes it."""
        folder = self.path(run_id)
        out = []
        for name in ("record.json", "labels.json"):
            try:
                st = (folder / name).stat()
                out.append((st.st_size, st.st_mtime_ns))
            except OSError:
                out.append(None)
        return tuple(out)

    def _check_unchanged(self, ex: "Explorer") -> None:
        """ValueError when the run's files changed on disk since `ex` last read or wrote them: another
        program (the CLI's `next`, another server) has worked on it, and writing now would undo that."""
        if ex.disk_stamp is not None and self.stamp(ex.run_id) != ex.disk_stamp:
            raise ValueError(f"Run {ex.run_id} was changed on disk by another program (the command line's `next`, "
                             "or another server) since this window loaded it, so this change was not saved: it "
                             "would undo that work. Reopen the run (Records → Recent runs → Resume) to go on "
                             "from its saved state.")

    def save(self, ex: "Explorer") -> Path:
        """Write the run's record (and, the first time, its set-up files) atomically. Returns the
        run's folder. ValueError with a sentence when the folder cannot be written, or when another
        program changed the run's files since `ex` last read or wrote them (nothing is written then)."""
        folder = self.path(ex.run_id)
        self._check_unchanged(ex)
        try:
            if not (folder / "setup.json").is_file():
                self._write_setup(folder, ex)
            atomic_write(folder / "record.json", ex.record.to_json())
            if ex.labels:
                atomic_write(folder / "labels.json", ex.labels.to_json(ex.mask))
            atomic_write(folder / "summary.json", json.dumps(self._summary_dict(ex)))
        except OSError as e:
            raise ValueError(f"Could not save the run to '{folder}' ({e.strerror or e}); the rounds so far are kept "
                             f"in memory. Free some disk space or choose another runs folder ({RUNS_ENV}).") from None
        ex.disk_stamp = self.stamp(ex.run_id)
        return folder

    def save_labels(self, ex: "Explorer") -> Path:
        """Write the run's labels (labels.json: every label given, the batch being labeled, the labeled
        set) atomically, the moment a label is given; the set-up and record too if the run has never
        been saved. ValueError with a sentence when the folder cannot be written."""
        folder = self.path(ex.run_id)
        if not (folder / "record.json").is_file():
            return self.save(ex)
        self._check_unchanged(ex)
        try:
            atomic_write(folder / "labels.json", ex.labels.to_json(ex.mask))
            atomic_write(folder / "summary.json", json.dumps(self._summary_dict(ex)))
        except OSError as e:
            raise ValueError(f"Could not save the label to '{folder}' ({e.strerror or e}); it is kept in memory. "
                             f"Free some disk space or choose another runs folder ({RUNS_ENV}).") from None
        ex.disk_stamp = self.stamp(ex.run_id)
        return folder

    def _write_setup(self, folder: Path, ex: "Explorer") -> None:
        from safetensors.torch import save as save_tensors

        (folder / "data").mkdir(parents=True, exist_ok=True)
        (folder / "model").mkdir(parents=True, exist_ok=True)
        src = ex.sources or RunSources()
        data_file = model_file = None
        if src.data_bytes is not None:
            data_file = _safe_filename(src.data_name or "data")
            atomic_write(folder / "data" / data_file, src.data_bytes)
        if src.model_bytes is not None:
            model_file = _safe_filename(src.model_name or "model")
            atomic_write(folder / "model" / model_file, src.model_bytes)
        if ex.init_state is not None:
            tensors = {k: v.detach().cpu().contiguous().clone() for k, v in ex.init_state.items()
                       if hasattr(v, "detach")}
            atomic_write(folder / "init.safetensors", save_tensors(tensors))
        setup = {"kind": "bait-explorer-run-setup", "setup_version": SETUP_VERSION, "run_id": ex.run_id,
                 "created": ex.record.created, "data_file": data_file, "data_name": src.data_name,
                 "model_file": model_file, "model_name": src.model_name, "arch": src.arch,
                 "n_points": src.n_points, "fingerprint": ex.dataset.fingerprint,
                 "read_options": asdict(src.read_options) if src.read_options is not None else None}
        atomic_write(folder / "setup.json", json.dumps(setup))

    def _summary_dict(self, ex: "Explorer") -> dict:
        rec = ex.record
        return {"run_id": ex.run_id, "created": rec.created, "updated": _now(),
                "dataset": str(rec.dataset.get("name", "")), "model": rec.config.model,
                "strategy": rec.config.strategy, "rounds": len(rec.rounds), "n_labeled": int(ex.n_labeled),
                "finished": bool(ex.finished)}

    # --- bundles -----------------------------------------------------------------------------------
    def bundle(self, run_id: str) -> bytes:
        """The saved run as one ZIP (set-up, record, initial weights, data and model files), to
        download and open anywhere. ValueError when the run has not been saved."""
        folder = self.path(run_id)
        if not (folder / "record.json").is_file():
            raise ValueError(f"Run '{run_id}' has not been saved yet; run a round (or apply the setup) first.")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in _BUNDLE_FILES:
                if (folder / name).is_file():
                    zf.write(folder / name, f"{run_id}/{name}")
            for sub in ("data", "model"):
                if (folder / sub).is_dir():
                    for f in sorted((folder / sub).iterdir()):
                        if f.is_file() and _safe_filename(f.name) == f.name:
                            zf.write(f, f"{run_id}/{sub}/{f.name}")
        return buf.getvalue()

    def import_bundle(self, blob: bytes) -> tuple[str, bool]:
        """Copy a run bundle (ZIP bytes) into this store; returns (run id, copied) where `copied`
        says the bundle's own id was taken here and the run got a new one. Every entry is checked
        first: one top folder, only the known files (the data and model file the set-up names, no
        other), no links, sizes within bounds, readable JSON; the record is validated by its schema.
        Nothing is unpickled or run. A failed import leaves nothing behind. ValueError with a sentence."""
        import stat

        from bait_core.records.run_record import RunRecord

        try:
            zf = zipfile.ZipFile(io.BytesIO(blob))
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            raise ValueError("This is not a run bundle (not a readable ZIP file).") from None
        bad_read = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, OSError, ValueError)
        with zf:
            infos = zf.infolist()
            if not infos or len(infos) > 16:
                raise ValueError("This ZIP is not a run bundle (a bundle holds a handful of files in one folder).")
            tops = {i.filename.split("/", 1)[0] for i in infos}
            if len(tops) != 1 or not valid_run_id(next(iter(tops))):
                raise ValueError("This ZIP is not a run bundle: it must hold exactly one run folder.")
            top = next(iter(tops))
            wanted: dict[str, zipfile.ZipInfo] = {}
            total = 0
            for info in infos:
                rel = info.filename[len(top) + 1:]
                if info.is_dir() or rel == "":
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ValueError(f"The run bundle holds a link ('{info.filename[:120]}'); bundles hold plain files.")
                parts = rel.split("/")
                ok = (len(parts) == 1 and parts[0] in _BUNDLE_FILES) or (
                    len(parts) == 2 and parts[0] in ("data", "model") and _safe_filename(parts[1]) == parts[1])
                if not ok:
                    raise ValueError(f"The run bundle holds an unexpected entry '{info.filename[:120]}'.")
                if rel in wanted:
                    raise ValueError(f"The run bundle holds '{rel}' twice.")
                total += info.file_size
                if total > MAX_BUNDLE_BYTES:
                    raise ValueError(f"The run bundle unpacks to more than {MAX_BUNDLE_BYTES >> 20} MiB.")
                wanted[rel] = info

            def read(rel: str) -> bytes:
                try:
                    return zf.read(wanted[rel])
                except bad_read as e:
                    why = ("it is compressed in an unusual way" if isinstance(e, NotImplementedError) else
                           "it is encrypted" if isinstance(e, RuntimeError) else f"its data are damaged ({str(e)[:120]})")
                    raise ValueError(f"The run bundle's '{rel}' cannot be read: {why}; export the bundle again.") \
                        from None

            for need in ("setup.json", "record.json"):
                if need not in wanted:
                    raise ValueError(f"The run bundle has no {need}.")
            from bait_core.records.schemas import parse_json
            setup = parse_json(read("setup.json"), "bundle's set-up file", max_bytes=MAX_SETUP_BYTES, max_depth=8)
            if not isinstance(setup, dict) or setup.get("kind") != "bait-explorer-run-setup":
                raise ValueError("The run bundle's setup.json is not a run's set-up file.")
            for sub, key in (("data", "data_file"), ("model", "model_file")):
                named = setup.get(key)
                present = sorted(r.split("/", 1)[1] for r in wanted if r.startswith(sub + "/"))
                if present != ([named] if isinstance(named, str) else []):
                    raise ValueError(f"The run bundle's {sub}/ folder holds {present or 'nothing'}, but its set-up "
                                     f"names {named!r}: a bundle holds exactly the files its run used.")
            record_raw = read("record.json")
            record = RunRecord.from_json(record_raw)        # the schema check, before anything is written
            files = {rel: read(rel) for rel in wanted if rel not in ("summary.json", "record.json")}
        copied = (self.root / top).exists()
        run_id = top if not copied else f"{top[:80]}-{secrets.token_hex(3)}"
        folder = self.path(run_id)
        try:
            (folder / "data").mkdir(parents=True, exist_ok=False)
            (folder / "model").mkdir(parents=True, exist_ok=True)
            for rel, data in files.items():
                atomic_write(folder / rel, data)
            atomic_write(folder / "record.json", record_raw)
            atomic_write(folder / "summary.json", json.dumps({
                "run_id": run_id, "created": record.created, "updated": _now(),
                "dataset": str(record.dataset.get("name", "")), "model": record.config.model,
                "strategy": record.config.strategy, "rounds": len(record.rounds),
                "n_labeled": int(record.rounds[-1].n_labeled) if record.rounds else 0,
                "finished": bool(record.rounds and record.rounds[-1].is_final)}))
        except OSError as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise ValueError(f"Could not unpack the run bundle into '{folder}' ({e.strerror or e}).") from None
        return run_id, copied

    def delete(self, run_id: str) -> None:
        """Remove a run's folder (e.g. a bundle that was copied in but cannot be resumed)."""
        shutil.rmtree(self.path(run_id), ignore_errors=True)

    # --- reading ----------------------------------------------------------------------------------
    def list(self, limit: int = 50) -> list[RunSummary]:
        """The saved runs, most recently updated first (unreadable folders are skipped)."""
        if not self.root.is_dir():
            return []
        out = []
        for folder in self.root.iterdir():
            if not valid_run_id(folder.name) or not (folder / "summary.json").is_file():
                continue
            try:
                s = self._read_json(folder / "summary.json", "summary")

                def whole(v: Any) -> int:
                    return int(v) if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10**9 else 0
                out.append(RunSummary(run_id=folder.name, created=str(s.get("created", ""))[:40],
                                      updated=str(s.get("updated", ""))[:40], dataset=str(s.get("dataset", ""))[:200],
                                      model=str(s.get("model", ""))[:200], strategy=str(s.get("strategy", ""))[:50],
                                      rounds=whole(s.get("rounds")), n_labeled=whole(s.get("n_labeled")),
                                      finished=s.get("finished") is True, path=folder))
            except (OSError, ValueError):                    # a broken folder is left out, never breaks the list
                continue
        out.sort(key=lambda s: s.updated, reverse=True)
        return out[:limit]

    def _read_json(self, path: Path, what: str) -> dict:
        """A small JSON object file of a run (set-up, summary), within the size and depth caps."""
        from bait_core.records.schemas import parse_json
        try:
            raw = path.read_bytes()
        except OSError:
            raise ValueError(f"This saved run has no {what} ('{path}' is missing); it cannot be resumed.") from None
        try:
            d = parse_json(raw, f"run's {what}", max_bytes=MAX_SETUP_BYTES, max_depth=8)
        except ValueError as e:
            raise ValueError(f"'{path}' is not valid ({e}); the run cannot be resumed.") from None
        if not isinstance(d, dict):
            raise ValueError(f"'{path}' is not a run's {what}.")
        return d

    def resume(self, run_id: str) -> "Explorer":
        """Rebuild a saved run as a live (writable) Explorer: the dataset (built-in reloaded, an
        upload re-read from its stored copy), the model (built-in rebuilt, an upload re-read by the
        vetted loader) with its stored initial weights, and the rounds so far; the next round
        continues where the record ends. ValueError with a sentence when it cannot be rebuilt."""
        from bait_core.learning.data import load_file
        from bait_core.service.explorer import Explorer
        from bait_core.records.run_record import RunRecord
        from bait_core.learning.models import MODEL_NAMES, build_model, load_user_model

        folder = self.path(run_id)
        if not folder.is_dir():
            raise ValueError(f"No saved run '{run_id}' in '{self.root}'.")
        setup = self._read_json(folder / "setup.json", "set-up file")
        if setup.get("kind") != "bait-explorer-run-setup":
            raise ValueError(f"'{folder / 'setup.json'}' is not a run's set-up file.")
        record = RunRecord.load(folder / "record.json")
        config = record.config

        def stored(sub: str, key: str) -> Optional[tuple[str, bytes]]:
            name = setup.get(key)
            if name is None:
                return None
            if not isinstance(name, str) or _safe_filename(name) != name:
                raise ValueError(f"The saved run's {key} '{str(name)[:80]}' is not a stored file name.")
            try:
                return name, (folder / sub / name).read_bytes()
            except OSError:
                raise ValueError(f"The saved run's {sub} file '{name}' is missing; it cannot be resumed.") from None

        data = stored("data", "data_file")
        read_options = None
        n_points = setup.get("n_points")
        if data is None:
            if not config.data.startswith("builtin:"):
                raise ValueError(f"The saved run used the file '{config.data}', but no copy of it was stored.")
            dataset = _reload_builtin(config.data.split(":", 1)[1], config.seed, record.dataset,
                                      n_points if isinstance(n_points, int) else None)
        else:
            read_options = _read_options(setup.get("read_options"))
            dataset = load_file(data[1], filename=str(setup.get("data_name") or data[0]),
                                label_column=config.label_column or None, seed=config.seed, options=read_options)
        if dataset.fingerprint != record.dataset.get("fingerprint"):
            raise ValueError(f"The data of saved run '{run_id}' no longer read as they did (fingerprint "
                             f"{dataset.fingerprint} ≠ {record.dataset.get('fingerprint')}); it cannot be resumed.")
        n_out = len(dataset.classes) if dataset.task == "classification" else 1
        model_src = stored("model", "model_file")
        arch = setup.get("arch") if isinstance(setup.get("arch"), str) else None
        if model_src is None:
            if config.model not in MODEL_NAMES:
                raise ValueError(f"The saved run's model '{config.model}' is neither built in nor stored.")
            model = build_model(config.model, dataset.input_shape, n_out, seed=config.seed)
        else:
            import numpy as np
            model = load_user_model(model_src[1], filename=str(setup.get("model_name") or model_src[0]), arch=arch,
                                    input_shape=dataset.input_shape, n_outputs=n_out, seed=config.seed,
                                    sample=np.asarray(dataset.X[:4]))
        init = folder / "init.safetensors"
        if init.is_file():
            from safetensors import SafetensorError
            from safetensors.torch import load as load_tensors
            try:
                state = load_tensors(init.read_bytes())
            except (SafetensorError, RuntimeError, OSError, ValueError) as e:
                raise ValueError(f"The saved run's initial weights could not be read ({str(e)[:200]}).") from None
            import torch
            expected = model.state_dict()
            if set(state) != set(expected):
                raise ValueError("The saved run's initial weights do not fit its model (other parameter names).")
            for k, v in expected.items():
                got = state[k]
                if got.dtype != v.dtype or tuple(got.shape) != tuple(v.shape):
                    raise ValueError(f"The saved run's initial weight '{k[:80]}' is {got.dtype} {tuple(got.shape)}; "
                                     f"the model needs {v.dtype} {tuple(v.shape)}.")
                if got.is_floating_point() and not bool(torch.isfinite(got).all()):
                    raise ValueError(f"The saved run's initial weight '{k[:80]}' holds NaN or infinite values.")
            model.load_state_dict(state)
        sources = RunSources(data_name=setup.get("data_name") if data else None, data_bytes=data[1] if data else None,
                             model_name=setup.get("model_name") if model_src else None,
                             model_bytes=model_src[1] if model_src else None, arch=arch,
                             n_points=n_points if isinstance(n_points, int) else None,
                             read_options=read_options if data else None)
        ex = Explorer.resume(dataset, model, record, run_id=run_id, store=self, sources=sources)
        labels = folder / "labels.json"
        if labels.is_file():                     # newer than the record: written the moment a label is given
            from bait_core.learning.labels import LabelBook
            from bait_core.records.schemas import check_size, parse_json
            check_size(labels.stat().st_size, "run's labels file")
            try:
                book, mask = LabelBook.from_dict(parse_json(labels.read_bytes(), "run's labels file"),
                                                 n_points=dataset.X.shape[0], task=dataset.task,
                                                 n_classes=len(dataset.classes), what="run's labels file")
            except OSError as e:
                raise ValueError(f"The saved run's labels could not be read ({e.strerror or e}).") from None
            from bait_core.service.explorer import check_book
            check_book(book, ex.mask if mask is None else mask, record, "run's labels file", dataset)
            ex.labels = book
            if mask is not None:
                ex.mask[:] = mask
        ex.disk_stamp = self.stamp(run_id)
        return ex


def _read_options(d: Any) -> Optional[ReadOptions]:
    """The ReadOptions stored in setup.json (lists back to tuples); ValueError if malformed."""
    if d is None:
        return None
    if not isinstance(d, dict):
        raise ValueError("The saved run's read options are not a JSON object.")
    known = set(ReadOptions.__dataclass_fields__)
    try:
        kw = {k: v for k, v in d.items() if k in known}
        if kw.get("na_values") is not None:
            kw["na_values"] = tuple(str(v) for v in kw["na_values"])
        if kw.get("roles") is not None:
            kw["roles"] = tuple((str(c), str(r)) for c, r in kw["roles"])
        if kw.get("image_size") is not None:
            kw["image_size"] = tuple(int(v) for v in kw["image_size"])
        if kw.get("classes") is not None:
            kw["classes"] = tuple(str(v) for v in kw["classes"])
        opts = ReadOptions(**kw)
        opts.validate()
    except (TypeError, ValueError) as e:
        raise ValueError(f"The saved run's read options cannot be used ({e}).") from None
    return opts


def _reload_builtin(name: str, seed: int, identity: dict, n_points: Optional[int]):
    """A built-in dataset as the run loaded it: its default size, or (toy sets, mnist1d) the size
    the record implies (pool + test points); the caller checks the fingerprint."""
    from bait_core.learning.data import load_builtin

    tries: list[Optional[int]] = [n_points] if n_points is not None else [None]
    try:
        tries.append(int(identity.get("n_points", 0)) + int(identity.get("n_test", 0)))
    except (TypeError, ValueError):
        pass
    dataset = None
    for n in tries:
        try:
            dataset = load_builtin(name, seed=seed, **({} if n is None else {"n_points": n}))
        except ValueError:
            continue
        if dataset.fingerprint == identity.get("fingerprint"):
            break
    if dataset is None:
        raise ValueError(f"The saved run's built-in dataset '{name}' could not be loaded.")
    return dataset


# --- runs this server process is working on -----------------------------------------------------------

class _LiveRuns:
    """run id → Explorer for the runs this process holds, so a reload re-attaches to the same
    object (and its running job). Bounded: the oldest runs without a running job are dropped."""

    def __init__(self, max_runs: int = 32) -> None:
        self._runs: "OrderedDict[str, Explorer]" = OrderedDict()
        self._lock = threading.Lock()
        self.max_runs = max_runs

    def add(self, ex: "Explorer") -> None:
        with self._lock:
            self._runs[ex.run_id] = ex
            self._runs.move_to_end(ex.run_id)
            for key in list(self._runs):
                if len(self._runs) <= self.max_runs:
                    break
                if not self._runs[key].busy:
                    del self._runs[key]

    def get(self, run_id: str) -> "Optional[Explorer]":
        with self._lock:
            return self._runs.get(run_id)

    def discard(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)


LIVE = _LiveRuns()
