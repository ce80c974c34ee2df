"""Deployments in the store: their states, their two keys, their usage (DESIGN §3, §7).

States: ``deploying -> complete | failed``, ``undeployed``; a failed or undeployed deployment
may be redeployed. Only a trained version can be deployed, and a version has at most one
deployment that is deploying or complete. A deployment keeps its keys across undeploy and
redeploy, so an application's configuration survives a redeploy; a key works only while its
deployment is complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput, NotFound, Unauthorized
from ..schemas import ApiKeyInfo, DeploymentInfo, NewApiKey
from ..store import Store, orm
from ..store.orm import utcnow as now
from .keys import hash_key, new_key

DEPLOYING, COMPLETE, FAILED, UNDEPLOYED = "deploying", "complete", "failed", "undeployed"
ACTIVE = (DEPLOYING, COMPLETE)
SLOTS = (1, 2)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


METADATA_ONLY = "metadata_only"  # the deployment option: its tasks keep no input or output text


def is_metadata_only(options: dict[str, Any] | None) -> bool:
    return bool((options or {}).get(METADATA_ONLY))


def deployment_row(session: Session, deployment: str) -> orm.Deployment:
    """A deployment by id or by name."""
    row = session.get(orm.Deployment, deployment) if len(deployment) == 32 else None
    if row is None:
        row = session.scalar(select(orm.Deployment).where(orm.Deployment.name == deployment))
    if row is None:
        raise NotFound(f"no deployment named or with id {deployment!r}")
    return row


@dataclass(frozen=True)
class Caller:
    """Who a task request comes from: the deployment its key belongs to, and the key."""

    deployment_id: str
    key_id: str
    version_id: str
    model_type: str
    artifacts_path: str


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).strip("-.").lower() or "deployment"


class DeploymentRegistry:
    """The rules of deployments over one store; the API and the serving runtime share it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # reading
    def _row(self, session: Session, deployment: str) -> orm.Deployment:
        return deployment_row(session, deployment)

    def _info(self, session: Session, row: orm.Deployment) -> DeploymentInfo:
        version = session.get(orm.ModelVersion, row.version_id)
        keys = session.scalars(
            select(orm.ApiKey).where(orm.ApiKey.deployment_id == row.id).order_by(orm.ApiKey.created_at)
        ).all()
        return DeploymentInfo(
            id=row.id, name=row.name or row.id, version_id=row.version_id,
            model_id=version.model_id, model_name=version.model.name,
            model_type=version.model.model_type, version=version.version, status=row.status,
            error=row.error, requests=row.requests, tokens=row.tokens, errors=row.errors,
            created_at=row.created_at, deployed_at=row.deployed_at,
            undeployed_at=row.undeployed_at,
            keys=[ApiKeyInfo.model_validate(k) for k in keys],
            metadata_only=is_metadata_only(row.options),
        )

    def get(self, deployment: str) -> DeploymentInfo:
        with self.store.session() as session:
            return self._info(session, self._row(session, deployment))

    def list(self, *, status: str | None = None, model_id: str | None = None) -> list[DeploymentInfo]:
        query = select(orm.Deployment).order_by(orm.Deployment.created_at.desc())
        if status:
            query = query.where(orm.Deployment.status == status)
        if model_id:
            query = query.join(orm.ModelVersion).where(orm.ModelVersion.model_id == model_id)
        with self.store.session() as session:
            return [self._info(session, row) for row in session.scalars(query).all()]

    def artifacts(self, deployment_id: str) -> tuple[str, str, str]:
        """``(version_id, model_type, artifacts_path)`` of a deployment's version."""
        with self.store.session() as session:
            row = self._row(session, deployment_id)
            version = session.get(orm.ModelVersion, row.version_id)
            return version.id, version.model.model_type, version.artifacts_path or ""

    def ids_in(self, *states: str) -> list[str]:
        with self.store.session() as session:
            return list(session.scalars(
                select(orm.Deployment.id).where(orm.Deployment.status.in_(states))
            ).all())

    # changing
    def _check_deployable(self, session: Session, version: orm.ModelVersion, skip: str | None = None) -> None:
        label = f"version {version.version} of model {version.model.name!r}"
        if version.status != "trained" or not version.artifacts_path:
            raise Conflict(f"{label} is {version.status}; only a trained version can be deployed")
        other = session.scalar(
            select(orm.Deployment).where(
                orm.Deployment.version_id == version.id,
                orm.Deployment.status.in_(ACTIVE),
                orm.Deployment.id != (skip or ""),
            )
        )
        if other is not None:
            raise Conflict(f"{label} is already deployed as {other.name!r} ({other.status})")

    def create(self, version_id: str, name: str | None = None, *,
               options: dict | None = None) -> tuple[DeploymentInfo, list[NewApiKey]]:
        """A deployment in state ``deploying`` with two fresh keys (returned once, here);
        ``options`` are kept with it (``metadata_only``: its tasks keep no input or output text)."""
        if name is not None and not NAME_PATTERN.match(name):
            raise InvalidInput(
                f"deployment name {name!r}: use 1-100 letters, digits, '-', '_' or '.', "
                "starting with a letter or digit"
            )
        with self.store.session() as session:
            version = session.get(orm.ModelVersion, version_id)
            if version is None:
                raise NotFound(f"no model version with id {version_id!r}")
            self._check_deployable(session, version)
            if name is not None:
                if session.scalar(select(orm.Deployment.id).where(orm.Deployment.name == name)):
                    raise Conflict(f"a deployment named {name!r} exists; choose another name")
            else:
                name = self._free_name(session, _slug(f"{version.model.name}-v{version.version}"))
            row = orm.Deployment(version_id=version.id, status=DEPLOYING, name=name,
                                 options=dict(options or {}))
            session.add(row)
            session.flush()
            keys = [self._add_key(session, row.id, slot) for slot in SLOTS]
            return self._info(session, row), keys

    @staticmethod
    def _free_name(session: Session, base: str) -> str:
        taken = set(session.scalars(
            select(orm.Deployment.name).where(orm.Deployment.name.like(f"{base}%"))
        ).all())
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    @staticmethod
    def _add_key(session: Session, deployment_id: str, slot: int) -> NewApiKey:
        key, prefix, digest = new_key()
        row = orm.ApiKey(deployment_id=deployment_id, slot=slot, prefix=prefix, key_hash=digest)
        session.add(row)
        session.flush()
        return NewApiKey(id=row.id, slot=slot, key=key)

    def mark(self, deployment_id: str, status: str, error: str | None = None) -> bool:
        """Finish deploying: ``complete`` or ``failed`` with the reason. False when the
        deployment left ``deploying`` meanwhile (undeployed while it loaded)."""
        values: dict = {"status": status, "error": error}
        if status == COMPLETE:
            values["deployed_at"] = now()
        with self.store.session() as session:
            done = session.execute(
                update(orm.Deployment)
                .where(orm.Deployment.id == deployment_id, orm.Deployment.status == DEPLOYING)
                .values(**values)
            )
            return done.rowcount == 1

    def undeploy(self, deployment: str) -> DeploymentInfo:
        with self.store.session() as session:
            row = self._row(session, deployment)
            if row.status == UNDEPLOYED:
                raise Conflict(f"deployment {row.name!r} is already undeployed")
            row.status, row.undeployed_at, row.error = UNDEPLOYED, now(), None
            session.flush()
            return self._info(session, row)

    def redeploy(self, deployment: str) -> DeploymentInfo:
        with self.store.session() as session:
            row = self._row(session, deployment)
            if row.status in ACTIVE:
                raise Conflict(f"deployment {row.name!r} is {row.status}; undeploy it first")
            version = session.get(orm.ModelVersion, row.version_id)
            self._check_deployable(session, version, skip=row.id)
            row.status, row.error, row.undeployed_at = DEPLOYING, None, None
            session.flush()
            return self._info(session, row)

    def rotate_key(self, deployment: str, slot: int) -> NewApiKey:
        """Revoke the key in ``slot`` (if any) and make a new one there; the other slot's key
        keeps working, so clients move to the new key without downtime."""
        self._check_slot(slot)
        with self.store.session() as session:
            row = self._row(session, deployment)
            self._revoke(session, row.id, slot)
            return self._add_key(session, row.id, slot)

    def revoke_key(self, deployment: str, slot: int) -> DeploymentInfo:
        self._check_slot(slot)
        with self.store.session() as session:
            row = self._row(session, deployment)
            if not self._revoke(session, row.id, slot):
                raise Conflict(f"deployment {row.name!r} has no active key in slot {slot}")
            return self._info(session, row)

    @staticmethod
    def _check_slot(slot: int) -> None:
        if slot not in SLOTS:
            raise InvalidInput(f"key slot must be 1 or 2, got {slot!r}")

    @staticmethod
    def _revoke(session: Session, deployment_id: str, slot: int) -> bool:
        done = session.execute(
            update(orm.ApiKey)
            .where(orm.ApiKey.deployment_id == deployment_id, orm.ApiKey.slot == slot,
                   orm.ApiKey.revoked_at.is_(None))
            .values(revoked_at=now())
        )
        return done.rowcount > 0

    # serving
    def authenticate(self, key: str | None) -> Caller:
        """The caller a key belongs to; 401 for a missing, unknown or revoked key, 404 when its
        deployment is undeployed and 503 while it is still deploying."""
        from ..errors import Unavailable

        if not key:
            raise Unauthorized("missing API key: send the header 'Authorization: Token <key>'")
        with self.store.session() as session:
            found = session.execute(
                select(orm.ApiKey, orm.Deployment, orm.ModelVersion, orm.Model)
                .join(orm.Deployment, orm.ApiKey.deployment_id == orm.Deployment.id)
                .join(orm.ModelVersion, orm.Deployment.version_id == orm.ModelVersion.id)
                .join(orm.Model, orm.ModelVersion.model_id == orm.Model.id)
                .where(orm.ApiKey.key_hash == hash_key(key))
            ).first()
            if found is None or found[0].revoked_at is not None:
                raise Unauthorized("invalid or revoked API key")
            api_key, deployment, version, model = found
            if deployment.status == DEPLOYING:
                raise Unavailable(f"deployment {deployment.name!r} is still deploying", retry_after=2)
            if deployment.status != COMPLETE:
                raise NotFound(f"deployment {deployment.name!r} is {deployment.status}; redeploy it to use it")
            return Caller(deployment.id, api_key.id, version.id, model.model_type,
                          version.artifacts_path or "")

    def count_usage(self, session: Session, deployment_id: str, key_id: str | None,
                    requests: int, tokens: int, errors: int) -> None:
        """Add to a deployment's (and its key's) counters, inside the caller's transaction."""
        session.execute(
            update(orm.Deployment).where(orm.Deployment.id == deployment_id).values(
                requests=orm.Deployment.requests + requests,
                tokens=orm.Deployment.tokens + tokens,
                errors=orm.Deployment.errors + errors,
            )
        )
        if key_id:
            session.execute(
                update(orm.ApiKey).where(orm.ApiKey.id == key_id).values(
                    requests=orm.ApiKey.requests + requests,
                    tokens=orm.ApiKey.tokens + tokens, last_used_at=now(),
                )
            )
