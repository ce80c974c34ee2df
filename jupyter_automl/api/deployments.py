"""Deployments, their keys, predictions and the playground: the public API over ``serve/``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import Conflict, InvalidInput, NotFound
from ..model_types import ModelType
from ..schemas import DeploymentCreated, DeploymentInfo, NewApiKey, PlaygroundInfo
from ..serve.deployments import Caller
from ..serve.inputs import LLM_PROMPT_OPTIONS, TaskRequest
from ..serve.runtime import ServingRuntime
from ..serve.tasks import PLAYGROUND, SYNC
from ..training.predictor import LLMPredictor, generation_settings
from .models import ModelsAPI


class DeploymentsAPI(ModelsAPI):
    """Deploy a trained version, manage its keys, and ask it (or the playground) for answers.

    Answers from Python run in this process through the same runtime (batching, task records,
    usage counts) as the server's task API.
    """

    _serving: ServingRuntime | None = None
    _base_predictor: tuple[str, LLMPredictor] | None = None  # (version id, its base model)
    _base_lock = threading.Lock()  # one generation at a time on the base model

    @property
    def serving(self) -> ServingRuntime:
        """This process's serving runtime (configured by ``c.ServingRuntime.*``)."""
        if self._serving is None:
            self._serving = ServingRuntime(self.store, self.root, parent=self)
        return self._serving

    def deploy(self, model: str, version: int | None = None, *, name: str | None = None,
               wait: bool = True, metadata_only: bool = False) -> DeploymentCreated:
        """Deploy a version (the newest trained one when ``version`` is None).

        ``metadata_only`` is for data that must not be stored: the deployment's tasks keep their
        status, times, token counts, key id and input hash, but no input or output text (an
        async task holds its input only while queued, and must give a ``callback_url``).

        The answer carries the deployment's two API keys: the only time they are shown. With
        ``wait`` the version is loaded here before this returns (``complete`` or ``failed`` with
        the reason); otherwise it loads in the background and the state says when it is done.
        """
        target = self.get_version(model, version)
        options = {"metadata_only": True} if metadata_only else {}
        info, keys = self.serving.registry.create(target.id, name, options=options)
        info = self._activate(info.id, wait)
        return DeploymentCreated(**info.model_dump(), new_keys=keys)

    def _activate(self, deployment_id: str, wait: bool) -> DeploymentInfo:
        if wait:
            return self.serving.activate(deployment_id)
        threading.Thread(target=self.serving.activate, args=(deployment_id,), daemon=True,
                         name=f"deploy-{deployment_id[:8]}").start()
        return self.serving.registry.get(deployment_id)

    def undeploy(self, deployment: str) -> DeploymentInfo:
        """Stop serving: the keys stop working at once in this process (its key cache is
        dropped); other serving processes notice within their ``key_cache_seconds``."""
        info = self.serving.registry.undeploy(deployment)
        self.serving.forget_keys()
        self.serving.unload(info.version_id)
        return info

    def redeploy(self, deployment: str, *, wait: bool = True) -> DeploymentInfo:
        info = self.serving.registry.redeploy(deployment)
        self.serving.forget_keys()
        return self._activate(info.id, wait)

    def list_deployments(self, *, status: str | None = None, model: str | None = None) -> list[DeploymentInfo]:
        model_id = self.get_model(model).id if model else None
        return self.serving.registry.list(status=status, model_id=model_id)

    def get_deployment(self, deployment: str) -> DeploymentInfo:
        return self.serving.registry.get(deployment)

    def rotate_key(self, deployment: str, slot: int) -> NewApiKey:
        """A new key in ``slot``; the old key there stops working, the other slot's key goes on."""
        key = self.serving.registry.rotate_key(deployment, slot)
        self.serving.forget_keys()
        return key

    def revoke_key(self, deployment: str, slot: int) -> DeploymentInfo:
        info = self.serving.registry.revoke_key(deployment, slot)
        self.serving.forget_keys()
        return info

    @staticmethod
    def task_request(text_data: str | None = None, *, media: str | Path | bytes | BinaryIO | None = None,
                     url: str | None = None, options: dict[str, Any] | None = None,
                     callback_url: str | None = None, max_media_bytes: int = 50 * 1024**2) -> TaskRequest:
        fields: dict[str, Any] = {"text_data": text_data, "url": url, "options": options,
                                  "callback_url": callback_url}
        upload = None
        if media is not None:
            if isinstance(media, (str, Path)):
                upload = (Path(media).name, Path(media).read_bytes())
            elif isinstance(media, (bytes, bytearray)):
                upload = ("media", bytes(media))
            else:
                upload = (getattr(media, "name", "media"), media.read())
        return TaskRequest.from_fields({k: v for k, v in fields.items() if v is not None}, upload,
                                       max_media_bytes=max_media_bytes)

    def _deployment_caller(self, deployment: str) -> Caller:
        info = self.serving.registry.get(deployment)
        version_id, model_type, path = self.serving.registry.artifacts(info.id)
        if info.status != "complete":
            raise Conflict(f"deployment {info.name!r} is {info.status}; only a complete deployment answers")
        return Caller(info.id, "", version_id, model_type, path)

    def predict(self, deployment: str, text_data: str | None = None, **inputs: Any) -> dict[str, Any]:
        """Ask a deployment, as the task API's sync endpoint would: the finished task."""
        request = self.task_request(text_data, max_media_bytes=self.serving.max_media_bytes, **inputs)
        return self.serving.answer_sync(self._deployment_caller(deployment), request, SYNC)

    def playground(self, model: str, version: int | None = None, text_data: str | None = None,
                   **inputs: Any) -> dict[str, Any]:
        """Ask a trained version before deploying it: limited to ``playground_max_requests``
        within ``playground_days`` of training, unless the version is deployed."""
        target = self.get_version(model, version)
        caller, _ = self.serving.playground_target(target.id)
        request = self.task_request(text_data, max_media_bytes=self.serving.max_media_bytes, **inputs)
        return self.serving.answer_sync(caller, request, PLAYGROUND)

    async def playground_async(self, model: str, version: int | None, request: TaskRequest) -> dict[str, Any]:
        """:meth:`playground` for a server's event loop: the request joins the version's batches."""
        import asyncio

        loop = asyncio.get_running_loop()
        target = await loop.run_in_executor(None, self.get_version, model, version)
        caller, _ = await loop.run_in_executor(None, self.serving.playground_target, target.id)
        return await self.serving.answer(caller, request, PLAYGROUND)

    def base_model_answer(self, model: str, version: int | None = None, text_data: str | None = None,
                          *, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the base model of an LLM version answers, untuned, to the same request (the
        same prompt format and generation options), for a side-by-side view in the playground.
        It runs in this process and is not counted as playground use: it is not the version."""
        target = self.get_version(model, version)
        if not ModelType(self.get_model(model).model_type).is_llm:
            raise InvalidInput("a base-model answer is for LLM versions; classifiers show scores")
        if target.status != "trained" or not target.artifacts_path:
            raise NotFound(f"version {target.version} of model {model!r} is {target.status}, not trained")
        options = dict(options or {})
        prompt = {"prompt": text_data, **{k: options.pop(k) for k in LLM_PROMPT_OPTIONS if k in options}}
        settings = generation_settings(options)
        with self._base_lock:
            if self._base_predictor is None or self._base_predictor[0] != target.id:
                self._base_predictor = None  # one base model held at a time
                self._base_predictor = (target.id, LLMPredictor.for_base(
                    target.artifacts_path, cache_dir=self.cache_dir,
                    device=self.serving.device or None))
            predictor = self._base_predictor[1]
            ids = predictor.prompt_ids(prompt)
            return predictor.generate_ids([ids], settings)[0]

    def playground_usage(self, model: str, version: int | None = None) -> PlaygroundInfo:
        return self.serving.playground_usage(self.get_version(model, version).id)

    def submit_task(self, deployment: str, text_data: str | None = None, **inputs: Any) -> dict[str, Any]:
        """Store an async task for a deployment; a running server answers it (and calls its
        ``callback_url``). Read it back with :meth:`get_task`."""
        request = self.task_request(text_data, max_media_bytes=self.serving.max_media_bytes, **inputs)
        _, shaped = self.serving.create_async(self._deployment_caller(deployment), request, claim=False)
        return shaped

    def get_task(self, deployment: str, task_id: str) -> dict[str, Any]:
        return self.serving.get_task(self._deployment_caller(deployment), task_id)
