"""Admission: how a request file becomes an immutable version that exactly one kind of run
builds. The same function serves the sensor, ``campaigns create`` and ``campaigns run-pending``.

The contract, which every sensor of this project follows (README "Admission"):

1. Admitting changes nothing that cannot be repeated. It reads and validates the file, stores
   the request as an immutable version (``requests/<key>/versions/<version>.json``, named by
   the content's hash, so storing it again changes nothing) and records in
   ``requests/<key>/claim.json`` which version the campaign key holds. It does not move the
   landing file: a crash between admission and the run leaves the file pending, and the next
   evaluation admits the same version again.
2. The run carries the version id and builds exactly that version, whatever arrives meanwhile;
   its first step takes the landing file (moves it to ``archive/`` if it still holds the
   admitted bytes). A refused file moves to ``rejected/`` beside its ``.error.json``; a file
   whose run gave up before taking it is rejected naming that run.
3. A campaign key is never replaced by accident (``core/admission.py``): different content
   under a taken key is refused unless it says ``replaces:`` (or ``--replace``).
4. Parsing cannot change who is targeted: duplicate keys, YAML aliases and files over
   ``MAX_REQUEST_BYTES`` are refused; YAML typing never touches an IIN
   (``core/requests.py``); uploads must be regular files inside ``landing/uploads``, and the
   version records each one's sha256, so a run refuses an upload changed since admission.
5. A request filters only by names that exist: blacklist sources the reference config holds,
   and device, push stream and product names the stored ``reference/vocabulary`` holds
   (matched case-insensitively, as the filter matches them). A request naming another is
   refused here, before its campaign partition exists, instead of becoming a campaign whose
   run can never succeed. The run checks the names again against the vocabulary it reads.

Concurrent admissions of one key (two ``campaigns create`` at the same moment, the sensor and
the command line) are serialised by an exclusive lock on ``requests/<key>/.lock`` (``flock``
locally; on an object store a lock object created only if absent, storage.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from campaign_pipelines.adapters.landing import file_fingerprint, write_file_atomic
from campaign_pipelines.adapters.landing_errors import landing_errors
from campaign_pipelines.adapters.storage import storage_for
from campaign_pipelines.adapters.uploads import UploadError, upload_path
from campaign_pipelines.core.admission import Claim, Outcome, decide
from campaign_pipelines.core.audience import unknown_filter_names
from campaign_pipelines.core.profile import Vocabulary
from campaign_pipelines.core.requests import (
    MAX_REQUEST_BYTES,
    CampaignRequest,
    RequestError,
    check_blacklist_names,
    parse_request,
    request_version,
)

REQUEST_SUFFIXES = (".json", ".yaml", ".yml")


def campaign_key(file_name: str) -> str:
    """The campaign's partition key: the request file's name without extension, lower-cased,
    anything but letters, digits, ``-`` and ``_`` replaced by ``_``."""
    stem = Path(file_name).stem.lower()
    key = re.sub(r"[^\w-]+", "_", stem, flags=re.ASCII).strip("_")[:64]
    if not key:
        raise RequestError(
            [
                {
                    "field": "<file name>",
                    "problem": f"{file_name!r} gives no campaign key",
                    "fix": "name the file with letters or digits, e.g. spring_push.json",
                }
            ]
        )
    return key


@dataclass(frozen=True)
class Admitted:
    """An admitted request: the key it claims, the version a run must build, and how."""

    key: str
    version: str
    outcome: Outcome
    request: CampaignRequest


@dataclass(frozen=True)
class RequestStore:
    """Admitted requests: immutable versions per campaign key and the key's claim."""

    root: Path

    def version_path(self, key: str, version: str) -> Path:
        return self.root / key / "versions" / f"{version}.json"

    def claim(self, key: str) -> Claim | None:
        path = self.root / key / "claim.json"
        if not path.exists():
            return self._unversioned_claim(key)
        fields = json.loads(path.read_text(encoding="utf-8"))
        return Claim(**{k: v for k, v in fields.items() if k != "history"})

    def load(self, key: str, version: str | None = None) -> CampaignRequest:
        """The request ``version`` of ``key`` (default: the version the key holds now)."""
        if version is None:
            claim = self.claim(key)
            if claim is None:
                raise FileNotFoundError(
                    f"no admitted request for campaign {key!r}: drop the request file in "
                    "landing/campaigns or run `campaigns create FILE`"
                )
            version = claim.version
        path = self.version_path(key, version)
        if not path.exists():
            raise FileNotFoundError(f"campaign {key!r} has no admitted version {version} ({path})")
        return CampaignRequest.model_validate_json(path.read_text(encoding="utf-8"))

    def admit(
        self, key: str, request: CampaignRequest, source_file: str, *,
        replace: bool = False, dry_run: bool = False,
    ) -> Admitted:
        """Stores ``request`` as a version of ``key`` and, unless ``dry_run``, makes it the
        version the key holds; AdmissionRefused when that would replace a campaign by
        accident. A dry run stores the version (a run must read it) but claims nothing."""
        version = request_version(request)
        stored = landing_errors(f"store the request of campaign {key!r}", (self.root,),
                                "Nothing was admitted; the request file is where it was.")
        with stored, self._locked(key):
            current = self.claim(key)
            outcome = decide(
                key, version, current=current, replaces=request.replaces, replace=replace
            )
            path = self.version_path(key, version)
            if not path.exists():
                storage_for(path).make_folder(path.parent)
                write_file_atomic(path, request.model_dump_json(indent=2).encode("utf-8"))
            if not dry_run and outcome is not Outcome.SAME:
                self._write_claim(key, current, Claim(
                    key=key,
                    version=version,
                    campaign_name=request.metadata.campaign_name,
                    source_file=source_file,
                    admitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    campaign_code=current.campaign_code if current else None,
                ), outcome)
        return Admitted(key=key, version=version, outcome=outcome, request=request)

    def _unversioned_claim(self, key: str) -> Claim | None:
        """A request stored by a version of this project that kept one file per key
        (``requests/<key>.json``) still holds its key: it becomes the key's first version."""
        legacy = self.root / f"{key}.json"
        if not legacy.is_file():
            return None
        text = legacy.read_text(encoding="utf-8")
        stamp = datetime.fromtimestamp(legacy.stat().st_mtime, UTC).isoformat(timespec="seconds")
        try:
            request = CampaignRequest.model_validate_json(text)
        except ValueError:  # stored before today's bounds: it still holds its key
            name = json.loads(text).get("metadata", {}).get("campaign_name", key)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
            return Claim(key=key, version=f"unversioned-{digest}", campaign_name=str(name),
                         source_file=f"requests/{legacy.name}", admitted_at=stamp)
        version = request_version(request)
        path = self.version_path(key, version)
        if not path.exists():
            storage_for(path).make_folder(path.parent)
            write_file_atomic(path, request.model_dump_json(indent=2).encode("utf-8"))
        return Claim(key=key, version=version, campaign_name=request.metadata.campaign_name,
                     source_file=f"requests/{legacy.name}", admitted_at=stamp)

    def record_code(self, key: str, campaign_code: str) -> None:
        """Notes the code the campaign was given, so a refusal can name it."""
        with self._locked(key):
            current = self.claim(key)
            if current is not None and current.campaign_code != campaign_code:
                updated = Claim(**{**asdict(current), "campaign_code": campaign_code})
                self._write_claim(key, current, updated, None)

    def _write_claim(
        self, key: str, current: Claim | None, claim: Claim, outcome: Outcome | None
    ) -> None:
        path = self.root / key / "claim.json"
        earlier = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        history = earlier.get("history", [])
        if outcome is not None:
            history.append({"version": claim.version, "outcome": outcome.value,
                            "source_file": claim.source_file, "admitted_at": claim.admitted_at})
        body = {**asdict(claim), "history": history}
        write_file_atomic(path, (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode())

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        folder, storage = self.root / key, storage_for(self.root)
        storage.make_folder(folder)
        with storage.locked(folder / ".lock"):
            yield


def read_request(path: Path) -> CampaignRequest:
    """The request in a .json/.yaml/.yml file, or RequestError naming every problem."""
    if path.suffix.lower() not in REQUEST_SUFFIXES:
        raise RequestError([_problem("<file name>", f"{path.name} is not JSON or YAML",
                                     "save the request as .json or .yaml")])
    size = path.stat().st_size
    if size > MAX_REQUEST_BYTES:
        raise RequestError([_problem(
            "<document>", f"{path.name} is {size:,} bytes, over the {MAX_REQUEST_BYTES:,} a "
            "request may have", "put long IIN lists in a file in landing/uploads and name it "
            "in user_files")])
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RequestError([_problem(
            "<document>", f"not UTF-8 text ({error.reason} at byte {error.start})",
            "save the file as UTF-8")]) from None
    return parse_request(text, yaml_syntax=path.suffix.lower() != ".json")


def admit_file(
    path: Path,
    *,
    store: RequestStore,
    blacklist_sources: list[str],
    uploads_dir: Path,
    vocabulary: Vocabulary | None = None,
    replace: bool = False,
    dry_run: bool = False,
) -> Admitted:
    """Admits the request in ``path`` (see the module docstring), or RequestError listing
    every problem (AdmissionRefused, a RequestError, when the key is taken).

    ``vocabulary``: the filter names the reference data knows; None when it has never been
    built, and then device, push stream and product names are left to the run to check."""
    key = campaign_key(path.name)
    request = read_request(path)
    problems = check_blacklist_names(request, blacklist_sources)
    if vocabulary is not None:
        problems += unknown_filter_names(request.filter_config, vocabulary)
    digests, missing = _upload_digests(request, uploads_dir)
    problems += missing
    if problems:
        raise RequestError(problems)
    request = request.model_copy(update={"user_files_sha256": digests})
    return store.admit(key, request, path.name, replace=replace, dry_run=dry_run)


def _upload_digests(
    request: CampaignRequest, uploads_dir: Path
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """sha256 of each upload the request names, and a problem for each it cannot use."""
    digests, problems = {}, []
    for i, name in enumerate(request.user_files):
        try:
            digests[name] = file_fingerprint(upload_path(uploads_dir, name))
        except UploadError as error:
            problems.append(_problem(f"user_files[{i}]", f"{error.file} {error.problem}",
                                     error.fix))
    return digests, problems


def _problem(field: str, problem: str, fix: str) -> dict[str, str]:
    return {"field": field, "problem": problem, "fix": fix}
