"""The model repository: Triton's layout, written atomically and read back as an index.

    <root>/<family>--<variant>/config.pbtxt
    <root>/<family>--<variant>/<version>/model.onnx
    <root>/<family>--<variant>/<version>/card.json
    <root>/<family>--<variant>--<form>/...       its statistics forms, where it has them (statistics_forms.py)

A new version is assembled in a hidden staging folder (a new model's whole folder beside the others) and
renamed into place, so no reader ever sees half of it (model_folder.place_version); a family's versions appear
together (publish_family).
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..atomic import flush_entries, write_text_atomically
from ..card import STATISTICS_FORMS, VariantCard, form_model_name, is_form_model_name, split_model_name
from ..validation import describe
from .model_folder import CARD_FILE, MODEL_FILE, place_version, remove_version
from .statistics_forms import has_forms, write_forms
from .triton_config import Flavour, render_config

LOCK_FILE = ".publishing.lock"  # hidden: Triton and the index skip names that start with a dot
PENDING_PREFIX = ".pending-"


class RepositoryError(ValueError):
    """A repository operation that cannot be done as asked."""


@dataclass(frozen=True)
class VariantVersion:
    """One published version of one variant."""

    card: VariantCard
    version: int
    path: Path

    @property
    def model_name(self) -> str:
        return self.card.model_name

    @property
    def onnx_path(self) -> Path:
        return self.path / MODEL_FILE


@dataclass(frozen=True)
class Problem:
    """Something in a repository that could not be read: where, what (fit to show anyone), and why in full (paths
    and the parser's own words, for whoever runs the server)."""

    where: str
    what: str
    why: str = ""

    def __str__(self) -> str:
        return f"{self.public}: {self.why}" if self.why else self.public

    @property
    def public(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class RepositoryIndex:
    """Every readable version in a repository, and a problem for everything that was not."""

    versions: list[VariantVersion] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def families(self) -> dict[str, dict[str, list[VariantVersion]]]:
        """family -> variant -> versions, oldest first."""
        tree: dict[str, dict[str, list[VariantVersion]]] = {}
        for entry in sorted(self.versions, key=lambda v: (v.card.family, v.card.variant, v.version)):
            tree.setdefault(entry.card.family, {}).setdefault(entry.card.variant, []).append(entry)
        return tree

    def latest(self) -> list[VariantVersion]:
        """The newest version of every variant: what Triton's default version policy serves."""
        return [versions[-1] for variants in self.families().values() for versions in variants.values()]

    def owner(self, family: str) -> str | None:
        """The job that made `family` (its oldest version's), or None for a family nobody made yet."""
        made = [v for v in self.versions if v.card.family == family]
        return min(made, key=lambda v: v.card.created_at).card.job if made else None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_card(path: Path) -> VariantCard:
    return VariantCard.model_validate_json(path.read_text())


class CardCache:
    """Cards read before, kept while their file is unchanged (same mtime and size): a catalog that polls a
    repository of many versions parses only what changed."""

    def __init__(self) -> None:
        self._cards: dict[Path, tuple[tuple[int, int], VariantCard]] = {}

    def read(self, path: Path) -> VariantCard:
        status = path.stat()
        stamp = (status.st_mtime_ns, status.st_size)
        known = self._cards.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        card = read_card(path)
        self._cards[path] = (stamp, card)
        return card


def read_index(root: Path, cards: CardCache | None = None) -> RepositoryIndex:
    """Read every `<model>/<version>/card.json` under `root` (through `cards`, when given); bad entries become
    problems, not errors."""
    read = cards.read if cards is not None else read_card
    index = RepositoryIndex()
    if not root.is_dir():
        return index
    pending = _pending(root)
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if is_form_model_name(model_dir.name):
            continue
        try:
            family, variant = split_model_name(model_dir.name)
        except ValueError as error:
            index.problems.append(Problem(model_dir.name, str(error)))
            continue
        for version_dir in sorted(p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()):
            if (model_dir.name, int(version_dir.name)) in pending:
                continue  # a publication not finished: all of its family's variants appear together
            where = f"{model_dir.name}/{version_dir.name}"
            try:
                card = read(version_dir / CARD_FILE)
            except (OSError, ValidationError) as error:
                index.problems.append(Problem(where, "unreadable card", _describe(error)))
                continue
            if (card.family, card.variant) != (family, variant):
                index.problems.append(Problem(where, f"card names {card.model_name}, not {model_dir.name}"))
                continue
            if not (version_dir / MODEL_FILE).is_file():
                index.problems.append(Problem(where, f"{MODEL_FILE} is missing"))
                continue
            index.versions.append(VariantVersion(card, int(version_dir.name), version_dir))
    return index


def publish_variant(
    root: Path, onnx_path: Path, card: VariantCard, flavour: Flavour = "onnxruntime", replace: bool = False
) -> VariantVersion:
    """Publish `onnx_path` with `card` as the next version of its variant (publish_family, with one variant)."""
    return publish_family(root, [(onnx_path, card)], flavour, replace)[0]


def publish_family(
    root: Path,
    variants: list[tuple[Path, VariantCard]],
    flavour: Flavour = "onnxruntime",
    replace: bool = False,
) -> list[VariantVersion]:
    """Publish one family's `variants` (each an ONNX file and its card) as the next version of each, all or
    nothing: into a family that another job made only when `replace`.

    Under the repository's lock (so that of two jobs publishing into a new family at once, one makes it and
    the other is refused), the versions to come are listed in a pending file, which readers skip; each is
    placed whole with its statistics forms (model_folder.place_version); a failure removes what was placed,
    and the pending file goes once all are. A publisher killed half way leaves its pending file: what it placed
    stays invisible and is removed by the next publisher or worker (remove_unfinished). A card that names a
    job is published once per (job, model): publishing it again returns the version already there.
    """
    for onnx_path, card in variants:
        if card.onnx_sha256 != sha256_file(onnx_path):
            raise RepositoryError(f"card's onnx_sha256 does not match {onnx_path}")
    families = {card.family for _, card in variants}
    if len(families) != 1:
        raise RepositoryError(f"one family at a time, not {sorted(families)}")
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        _remove_unfinished(root)
        family = families.pop()
        owner = read_index(root).owner(family)
        if owner is not None and owner != variants[0][1].job and not replace:
            raise RepositoryError(
                f"family {family!r} was made by job {owner!r}: publishing into it needs `replace: true`"
            )
        results, new = [], []
        for onnx_path, card in variants:
            before = _published_before(root, card)
            if before is not None:
                results.append((before.card, before.version))
                continue
            version = max(version_numbers(root / card.model_name), default=0) + 1
            new.append((onnx_path, card, version))
            results.append((card, version))
        pending = root / f"{PENDING_PREFIX}{uuid.uuid4().hex}.json"
        write_text_atomically(pending, json.dumps([[card.model_name, version] for _, card, version in new]))
        try:
            for onnx_path, card, version in new:
                _place(root, onnx_path, card, version, flavour)
        except BaseException:
            _remove_versions(root, [(card.model_name, version) for _, card, version in new])
            pending.unlink()
            raise
        pending.unlink()
        flush_entries(root)
    return [VariantVersion(card, version, root / card.model_name / str(version)) for card, version in results]


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """The repository's publishing lock (an advisory lock on a file of its own: held by one publisher at a time,
    across processes and, on file systems that pass locks on, across hosts)."""
    with open(root / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _published_before(root: Path, card: VariantCard) -> VariantVersion | None:
    """The version of `card`'s job with the same file, where there is one."""
    if card.job is None:
        return None
    model_dir = root / card.model_name
    for version in version_numbers(model_dir):
        published = read_card(model_dir / str(version) / CARD_FILE)
        if published.job == card.job and published.onnx_sha256 == card.onnx_sha256:
            return VariantVersion(published, version, model_dir / str(version))
    return None


def _place(root: Path, onnx_path: Path, card: VariantCard, version: int, flavour: Flavour) -> None:
    if card.tile_statistics == "image":
        write_forms(root, card, onnx_path, version, flavour)

    def fill(folder: Path) -> None:
        shutil.copyfile(onnx_path, folder / MODEL_FILE)
        (folder / CARD_FILE).write_text(card.model_dump_json(indent=2) + "\n")

    place_version(root / card.model_name, version, render_config(card, flavour), fill)


def _pending(root: Path) -> set[tuple[str, int]]:
    """The versions that publications not finished placed, or were about to."""
    return {
        (model, version)
        for marker in root.glob(f"{PENDING_PREFIX}*.json")
        for model, version in json.loads(marker.read_text())
    }


def _remove_unfinished(root: Path) -> None:
    """What publishers killed half way left: their versions, their forms, and their pending files (called under
    the lock, when no publisher is half way)."""
    for marker in root.glob(f"{PENDING_PREFIX}*.json"):
        _remove_versions(root, [tuple(entry) for entry in json.loads(marker.read_text())])
        marker.unlink()


def remove_unfinished(root: Path) -> None:
    """Under the repository's lock: what publishers killed half way left (a worker does it at start)."""
    if root.is_dir():
        with _locked(root):
            _remove_unfinished(root)


def _remove_versions(root: Path, placed: list[tuple[str, int]]) -> None:
    """Each (model, version) and its forms, where they exist; a model left without a version goes whole."""
    for model, version in placed:
        for model_dir in [root / model, *(root / form_model_name(model, form) for form in STATISTICS_FORMS)]:
            if (model_dir / str(version)).exists():
                remove_version(model_dir, version)
            if model_dir.is_dir() and not version_numbers(model_dir):
                doomed = root / f".removing-{model_dir.name}-{uuid.uuid4().hex}"
                os.rename(model_dir, doomed)
                shutil.rmtree(doomed)


def prune_versions(root: Path, model: str, keep: int) -> list[int]:
    """Remove all but the newest `keep` versions of `model`; returns the versions removed.

    Servers hold what they load: the gateway's sessions and Triton's loaded models do not read the files again,
    and both serve the newest version, which is always kept.
    """
    removed = version_numbers(root / model)[:-keep]
    _remove_versions(root, [(model, version) for version in removed])  # the newest stays: never the whole model
    return removed


def add_missing_forms(root: Path) -> list[str]:
    """Write the statistics forms of every version that should have them and has not (published before they
    were, or kept in git without them); returns the models given forms."""
    added = []
    for entry in read_index(root).versions:
        if entry.card.tile_statistics == "image" and not has_forms(root, entry.model_name, entry.version):
            write_forms(root, entry.card, entry.onnx_path, entry.version, "onnxruntime")
            added.append(entry.model_name)
    return added


def remove_stale_staging(root: Path, older_than_s: float) -> list[Path]:
    """Staging folders that a killed publisher left behind (older than `older_than_s`), removed: a new model's
    beside the models, a new version's in its model's folder."""
    if not root.is_dir():
        return []
    cutoff = time.time() - older_than_s
    models = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    staged = [*root.glob(".staging-*"), *(path for model_dir in models for path in model_dir.glob(".staging-*"))]
    stale = [path for path in staged if path.stat().st_mtime < cutoff]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def version_numbers(model_dir: Path) -> list[int]:
    """The numbered version folders of a model's folder, oldest first."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return describe(error, whole="card")
    return str(error) or type(error).__name__
