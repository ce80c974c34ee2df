"""Models and their versions: a model names a base model, data and options; each training makes
version n+1, which keeps its own copy of what it was trained from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import or_, select

from ..datasets.snapshots import check_test_snapshot
from ..errors import Conflict, InvalidInput, NotFound
from ..model_types import ModelType
from ..schemas import ModelDetail, ModelInfo, VersionInfo
from ..store import orm
from ..training.heads import HeadLayout, prediction_columns
from ..training.options import options_schema, resolve_options
from .part import APIPart

DEFAULT_TEST_PERCENT = 20
NAME_PATTERN = re.compile(r"^[\w][\w .\-]{0,99}$", re.UNICODE)


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name, flags=re.UNICODE).strip("-").lower() or "model"


def _plot_names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(
        p.name for p in folder.iterdir() if p.suffix == ".png" and p.is_file() and not p.is_symlink()
    )


class ModelsAPI(APIPart):
    """Create, list, show and change models; every change applies to the next version."""

    def _model_row(self, session, model: str) -> orm.Model:
        row = session.scalar(
            select(orm.Model).where(or_(orm.Model.id == model, orm.Model.name == model))
        )
        if row is None:
            raise NotFound(f"no model named or with id {model!r}")
        return row

    def _snapshot_row(self, session, snapshot_id: str, what: str) -> orm.Snapshot:
        row = session.get(orm.Snapshot, snapshot_id)
        if row is None:
            raise NotFound(f"{what}: no snapshot with id {snapshot_id!r}")
        return row

    def _check_settings(
        self,
        session,
        *,
        model_type: ModelType,
        base_model: str,
        train_snapshot_id: str,
        test_snapshot_id: str | None,
        test_percent: int | None,
        options: dict[str, Any],
    ) -> None:
        """Every setting of a model, checked as the engine will use it, before anything runs."""
        train = self._snapshot_row(session, train_snapshot_id, "training data")
        if train.model_type != model_type.value:
            raise InvalidInput(
                f"snapshot {train.id} holds {train.model_type} data; the model is {model_type.value}"
            )
        if test_snapshot_id is not None and test_percent is not None:
            raise InvalidInput("give a test snapshot or a test percent, not both")
        if test_snapshot_id is not None:
            test = self._snapshot_row(session, test_snapshot_id, "test data")
            check_test_snapshot(train.model_type, train.heads, test.model_type, test.heads)
        if test_percent is not None and not 1 <= test_percent <= 90:
            raise InvalidInput(f"test_percent must be between 1 and 90, got {test_percent}")
        entry = self._base_model(model_type, base_model)
        resolve_options(options, model_type=model_type, base_model=entry, heads=list(train.heads))

    def create_model(
        self,
        name: str,
        snapshot_id: str,
        *,
        base_model: str | None = None,
        test_snapshot_id: str | None = None,
        test_percent: int | None = None,
        options: dict[str, Any] | None = None,
        description: str = "",
        model_type: str | ModelType | None = None,
    ) -> ModelInfo:
        """A model of the snapshot's type (``model_type``, when given, must be that type).
        Test data: a test snapshot, or ``test_percent`` of the training rows (20 when neither
        is given)."""
        name = (name or "").strip()
        if not NAME_PATTERN.match(name):
            raise InvalidInput(
                f"model name {name!r}: use 1 to 100 letters, digits, spaces, '.', '-' or '_', "
                "starting with a letter or digit"
            )
        if test_snapshot_id is None and test_percent is None:
            test_percent = DEFAULT_TEST_PERCENT
        options = dict(options or {})
        with self.store.session() as session:
            if session.scalar(select(orm.Model.id).where(orm.Model.name == name)):
                raise Conflict(f"a model named {name!r} exists already; train it again for a new version")
            snapshot = self._snapshot_row(session, snapshot_id, "training data")
            kind = ModelType(snapshot.model_type)
            if model_type is not None and ModelType.parse(model_type) is not kind:
                raise InvalidInput(
                    f"snapshot {snapshot.id} holds {kind.value} data; a "
                    f"{ModelType.parse(model_type).value} model cannot train on it"
                )
            entry = self._base_model(kind, base_model)
            self._check_settings(
                session, model_type=kind, base_model=entry.name, train_snapshot_id=snapshot_id,
                test_snapshot_id=test_snapshot_id, test_percent=test_percent, options=options,
            )
            row = orm.Model(
                name=name, description=description, model_type=kind.value, base_model=entry.name,
                train_snapshot_id=snapshot_id, test_snapshot_id=test_snapshot_id,
                test_split_percent=test_percent, options=options,
            )
            session.add(row)
            session.flush()
            return ModelInfo.model_validate(row)

    def update_model(
        self,
        model: str,
        *,
        snapshot_id: str | None = None,
        test_snapshot_id: str | None = None,
        test_percent: int | None = None,
        options: dict[str, Any] | None = None,
        base_model: str | None = None,
        description: str | None = None,
    ) -> ModelInfo:
        """Change what the next version trains on (earlier versions keep what they had).
        ``options`` replaces the options as a whole."""
        with self.store.session() as session:
            row = self._model_row(session, model)
            kind = ModelType(row.model_type)
            new_test_snapshot, new_percent = row.test_snapshot_id, row.test_split_percent
            if test_snapshot_id is not None:
                new_test_snapshot, new_percent = test_snapshot_id, None
            elif test_percent is not None:
                new_test_snapshot, new_percent = None, test_percent
            settings = dict(
                base_model=self._base_model(kind, base_model).name if base_model else row.base_model,
                train_snapshot_id=snapshot_id or row.train_snapshot_id,
                test_snapshot_id=new_test_snapshot,
                test_percent=new_percent,
                options=dict(options) if options is not None else dict(row.options or {}),
            )
            self._check_settings(session, model_type=kind, **settings)
            row.base_model = settings["base_model"]
            row.train_snapshot_id = settings["train_snapshot_id"]
            row.test_snapshot_id = new_test_snapshot
            row.test_split_percent = new_percent
            row.options = settings["options"]
            if description is not None:
                row.description = description
            session.flush()
            return ModelInfo.model_validate(row)

    def list_models(self, model_type: str | ModelType | None = None) -> list[ModelInfo]:
        query = select(orm.Model).order_by(orm.Model.created_at.desc())
        if model_type:
            query = query.where(orm.Model.model_type == ModelType.parse(model_type).value)
        with self.store.session() as session:
            return [ModelInfo.model_validate(r) for r in session.scalars(query)]

    def get_model(self, model: str) -> ModelDetail:
        """A model by name or id, with its versions, oldest first."""
        with self.store.session() as session:
            row = self._model_row(session, model)
            versions = [VersionInfo.model_validate(v) for v in row.versions]
            return ModelDetail.model_validate({**ModelInfo.model_validate(row).model_dump(),
                                              "versions": versions})

    def get_version(self, model: str, version: int | None = None) -> VersionInfo:
        """A version of a model: number ``version``, or the newest trained one."""
        detail = self.get_model(model)
        if version is None:
            trained = [v for v in detail.versions if v.status == "trained"]
            if not trained:
                raise NotFound(f"model {detail.name!r} has no trained version yet")
            return trained[-1]
        for v in detail.versions:
            if v.version == version:
                return v
        raise NotFound(f"model {detail.name!r} has no version {version}")

    def list_versions(self, model: str) -> list[VersionInfo]:
        """A model's versions, oldest first."""
        return self.get_model(model).versions

    def version_metrics(self, model: str, version: int) -> dict[str, Any]:
        """The whole ``metrics.json`` of a trained version (the row keeps a summary of it)."""
        folder = self._trained_folder(model, version, "metrics")
        return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))

    def version_plots(self, model: str, version: int) -> list[str]:
        """The file names of a trained version's plots (PNG), sorted."""
        return _plot_names(self._trained_folder(model, version, "plots") / "plots")

    def version_plot(self, model: str, version: int, name: str) -> Path:
        """The file of one plot, by a name from :meth:`version_plots`; any other name (another
        folder's file, ``..``) is not found."""
        folder = self._trained_folder(model, version, "plots") / "plots"
        names = _plot_names(folder)
        if name not in names:
            raise NotFound(
                f"version {version} of model {model!r} has no plot {name!r} "
                f"(its plots: {', '.join(names) or 'none'})"
            )
        return folder / name

    def version_predictions(self, model: str, version: int) -> pd.DataFrame:
        """A trained classification version's test rows as its test metrics scored them: ``row``
        (the spreadsheet row), ``input`` (the text, or the image's name) and for every head ``H``
        ``H`` (the true class, missing where unlabelled), ``H predicted`` and ``H score``."""
        return self._predictions(model, version)[1]

    def confusion_rows(
        self, model: str, version: int, head: str, actual: str, predicted: str
    ) -> pd.DataFrame:
        """The test rows behind one cell of a head's confusion matrix (true class ``actual``,
        predicted ``predicted``), as many as the cell counts; columns as in
        :meth:`version_predictions`."""
        layout, table = self._predictions(model, version)
        if head not in layout:
            heads = "; ".join(f"{h.name} ({', '.join(h.classes)})" for h in layout)
            raise InvalidInput(
                f"version {version} of model {model!r} has no head {head!r}; its heads: {heads}"
            )
        classes = layout.get(head).classes
        for what, label in (("actual", actual), ("predicted", predicted)):
            if label not in classes:
                raise InvalidInput(
                    f"{what} class {label!r} is not a class of head {head!r} ({', '.join(classes)})"
                )
        cell = (table[head] == actual) & (table[f"{head} predicted"] == predicted)
        return table[cell].reset_index(drop=True)

    def _predictions(self, model: str, version: int) -> tuple[HeadLayout, pd.DataFrame]:
        """The head layout and ``predictions.jsonl`` of a trained version; NotFound says why a
        version has none (an LLM, or trained before versions kept them)."""
        folder = self._trained_folder(model, version, "test predictions")
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        kind = ModelType(metrics["model_type"])
        if not kind.is_classification:
            raise NotFound(
                f"version {version} of model {model!r} is an {kind.value} model: only classifiers "
                "keep per-row test predictions"
            )
        name = metrics.get("predictions")
        if not name or not (folder / name).is_file():
            raise NotFound(
                f"version {version} of model {model!r} has no test predictions: it was trained "
                "before versions kept them; train the model again for a version that has them"
            )
        version_info = json.loads((folder / "version.json").read_text(encoding="utf-8"))
        layout = HeadLayout.from_json(version_info["predictor"]["heads"])
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        table = pd.DataFrame.from_records(
            [json.loads(line) for line in lines if line], columns=prediction_columns(layout)
        )
        return layout, table

    def _trained_folder(self, model: str, version: int, what: str) -> Path:
        info = self.get_version(model, version)
        if info.status != "trained" or not info.artifacts_path:
            raise NotFound(
                f"version {version} of model {model!r} is {info.status}; it has {what} once it "
                "is trained"
            )
        return Path(info.artifacts_path)

    def options_schema(
        self,
        model_type: str | ModelType | None = None,
        *,
        base_model: str | None = None,
        snapshot_id: str | None = None,
    ) -> dict[str, Any]:
        """The JSON Schema a form builds the training options from: the options that apply to
        the type (the snapshot's, when given) and base model, their choices (the snapshot's
        heads for ``selection_label``) and the defaults a run would use."""
        heads: list[str] | None = None
        if snapshot_id is not None:
            with self.store.session() as session:
                snapshot = self._snapshot_row(session, snapshot_id, "training data")
                kind, heads = ModelType(snapshot.model_type), list(snapshot.heads)
            if model_type is not None and ModelType.parse(model_type) is not kind:
                raise InvalidInput(
                    f"snapshot {snapshot_id} holds {kind.value} data, not "
                    f"{ModelType.parse(model_type).value}"
                )
        elif model_type is not None:
            kind = ModelType.parse(model_type)
        else:
            raise InvalidInput("give a model_type or a snapshot_id")
        return options_schema(kind, self._base_model(kind, base_model), heads)

    def _new_version(self, session, model: orm.Model) -> orm.ModelVersion:
        """Version n+1 with a frozen copy of the model's current settings, in its own folder."""
        number = (session.scalar(
            select(orm.ModelVersion.version).where(orm.ModelVersion.model_id == model.id)
            .order_by(orm.ModelVersion.version.desc()).limit(1)
        ) or 0) + 1
        train = self._snapshot_row(session, model.train_snapshot_id, "training data")
        entry = self._base_model(ModelType(model.model_type), model.base_model)
        folder = self.root / "runs" / f"{_slug(model.name)}-{model.id[:8]}" / f"v{number}"
        version = orm.ModelVersion(
            model_id=model.id, version=number, status="queued", base_model=entry.name,
            base_model_entry=entry.to_dict(), options=dict(model.options or {}),
            train_snapshot_id=train.id, snapshot_hash=train.content_hash,
            test_snapshot_id=model.test_snapshot_id, test_split_percent=model.test_split_percent,
            artifacts_path=str(folder),
        )
        session.add(version)
        session.flush()
        return version
