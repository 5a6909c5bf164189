"""Predicting requests together: one model call for the requests waiting.

Each request, once decoded, becomes a :class:`Job`; :class:`Batcher` runs the
model on all the jobs that are waiting when it gets to them (up to
``max_images`` images at once): while it computes one batch, the next one
gathers. A lone request waits for nothing; under load, many
single-image requests cost one ``predict_proba`` call, whose fixed cost
(validation, dispatch) dominates for one image. Jobs whose client has gone
are dropped before they are computed.

The probabilities of a batch are ``predict_proba`` of the batch: for one
image they may differ from those computed alone in the last bits of float32
(matrix products of one row and of many round differently), never more.
"""

import asyncio
import itertools
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["Batcher", "Job", "Statistics"]

# Batches of at most this many images are computed on the event loop itself
# (a millisecond or two): handing them to the thread would cost more, in
# wake-ups and in the GIL passed back and forth, than computing them. Larger
# ones go to the thread, where NumPy's matrix products release the GIL and
# the loop goes on answering.
INLINE_IMAGES = 64


class Job:
    """A request's inputs, and how to answer it from its probabilities.

    Parameters
    ----------
    images : ndarray of shape (n, 28, 28) or None
        Pixel values in [0, 255], for ``Predictor.features_of_images``.
    features : ndarray of shape (n, 784) or None
        The classifier's features themselves (exactly one of the two is given).
    answer : callable
        ``answer(proba, best)`` for the job's rows of probabilities and the
        index of each row's best class; returns what the request sends back.
    connection : object, default=None
        The request's connection, if it tells when it is gone (``closing``).
    """

    __slots__ = (
        "answer",
        "connection",
        "features",
        "future",
        "gone",
        "images",
        "n",
        "queued",
    )

    def __init__(self, *, answer, images=None, features=None, connection=None):
        self.images = images
        self.features = features
        self.n = len(images if images is not None else features)
        self.answer = answer
        self.connection = connection
        self.gone = False
        self.future = None
        self.queued = 0

    def abandoned(self):
        return self.gone or (self.connection is not None and self.connection.closing)


class Statistics:
    """Counts and times of one process, as the V2 statistics extension reports them."""

    FIELDS = (
        "success",
        "fail",
        "queue",
        "compute_input",
        "compute_infer",
        "compute_output",
    )

    def __init__(self):
        self.inference_count = 0  # images predicted
        self.execution_count = 0  # model calls
        self.last_inference = 0  # ms since the epoch
        self.abandoned = 0  # jobs dropped: their client had gone
        self.durations = {field: [0, 0] for field in self.FIELDS}

    def add(self, field, nanoseconds, count=1):
        entry = self.durations[field]
        entry[0] += count
        entry[1] += nanoseconds


class Batcher:
    """Run the model on the waiting jobs, one batch at a time.

    Parameters
    ----------
    predictor : skmnist.apps.serve._model.Predictor
        The model.
    max_images : int, default=256
        The images of one batch at most (a larger single request is still
        one batch); 1 predicts each request alone.
    statistics : Statistics, default=None
        Where to count.
    """

    def __init__(self, predictor, *, max_images=256, statistics=None):
        if max_images < 1:
            raise ValueError(f"max_images must be positive, got {max_images}")
        self.predictor = predictor
        self.max_images = max_images
        self.statistics = statistics if statistics is not None else Statistics()
        self._queue = deque()
        self._wake = None
        self._task = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="skmnist-predict")

    async def submit(self, job):
        """Queue ``job``; return the future of its answer."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="skmnist-batcher")
        job.future = loop.create_future()
        job.queued = time.perf_counter_ns()
        self._queue.append(job)
        self._wake.set()
        return job.future

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            # Two turns of the event loop: a client that closed its
            # connection while its job waited is noticed before it is computed.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            batch = self._take()
            if not batch:
                continue
            try:
                if sum(job.n for job in batch) <= INLINE_IMAGES:
                    answers = self._compute(batch)
                else:
                    answers = await loop.run_in_executor(
                        self._executor, self._compute, batch
                    )
            except Exception as exc:  # a failure of the model: each job says so
                answers = [exc] * len(batch)
            for job, answer in zip(batch, answers, strict=True):
                if job.future.done():
                    continue
                if isinstance(answer, Exception):
                    job.future.set_exception(answer)
                else:
                    job.future.set_result(answer)

    def _take(self):
        batch, n = [], 0
        now = time.perf_counter_ns()
        while self._queue:
            job = self._queue[0]
            if job.abandoned() or job.future.done():
                self._queue.popleft()
                self.statistics.abandoned += 1
                if not job.future.done():
                    job.future.cancel()
                continue
            if batch and n + job.n > self.max_images:
                break
            self._queue.popleft()
            self.statistics.add("queue", now - job.queued)
            batch.append(job)
            n += job.n
        return batch

    def _compute(self, batch):
        """The answers of the jobs of ``batch`` (in the predicting thread)."""
        stats = self.statistics
        start = time.perf_counter_ns()
        with_images = [job for job in batch if job.images is not None]
        converted = iter(())
        if with_images:
            images = np.concatenate([job.images for job in with_images])
            features_of_images = self.predictor.features_of_images(images)
            offsets = np.cumsum([0] + [job.n for job in with_images])
            converted = iter(
                features_of_images[a:b] for a, b in itertools.pairwise(offsets)
            )
        parts = [
            next(converted) if job.images is not None else job.features for job in batch
        ]
        features = parts[0] if len(parts) == 1 else np.concatenate(parts)
        inferred = time.perf_counter_ns()
        proba = self.predictor.predict(features)
        best = np.argmax(proba, axis=1)
        answered = time.perf_counter_ns()
        answers, row = [], 0
        for job in batch:
            rows = slice(row, row + job.n)
            row += job.n
            try:
                answers.append(job.answer(proba[rows], best[rows]))
            except Exception as exc:
                answers.append(exc)
        end = time.perf_counter_ns()
        n = len(features)
        stats.inference_count += n
        stats.execution_count += 1
        stats.last_inference = time.time_ns() // 1_000_000
        stats.add("compute_input", inferred - start, len(batch))
        stats.add("compute_infer", answered - inferred, len(batch))
        stats.add("compute_output", end - answered, len(batch))
        return answers
