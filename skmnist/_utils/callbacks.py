"""scikit-learn's callbacks (``set_callbacks``) in skmnist's estimators.

scikit-learn 1.9 added an experimental callback API, :mod:`sklearn.callback`:
an estimator that inherits its ``CallbackSupportMixin`` takes callbacks with
``set_callbacks`` and reports its ``fit`` to them as a tree of tasks, each
task begun and ended with the callbacks' hooks. A network's tree is its fit
(the root) with one leaf per epoch, so that a ``ProgressBar`` advances once
an epoch and a ``ScoringMonitor`` scores the network as it stands after each
epoch; the preprocessor's fit is a single task. Meta-estimators
(``Pipeline``, ``GridSearchCV``) graft these trees onto theirs by themselves
(through ``_init_callback_context``), and pass their auto-propagated
callbacks (a ``ProgressBar``) down.

An estimator runs its training inside :func:`fit_callbacks` and calls
:func:`epoch_end` after each epoch. On a scikit-learn without
:mod:`sklearn.callback` (before 1.9) :class:`CallbackSupportMixin` is an empty
class and :func:`fit_callbacks` does nothing: the estimators have no
``set_callbacks`` and fit exactly as before.
"""

try:
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:
        """Stands in for scikit-learn's mixin where it has none: adds nothing."""

    with_callbacks = None

#: Whether this scikit-learn has the callback API.
AVAILABLE = with_callbacks is not None


def fit_callbacks(estimator, X, y, sample_weight=None, *, max_epochs, task_name):
    """The callbacks' view of one fit, as a context manager around training.

    ``X``, ``y`` and ``sample_weight`` are the data of the fit, passed to the
    hooks (a ``ScoringMonitor`` scores on them); ``max_epochs`` is the number
    of epochs it may run (0 for a fit that has none); ``task_name`` names the
    root task (``"fit"``, ``"partial_fit"``). Inside the ``with`` block,
    :func:`epoch_end` tells the callbacks of each epoch's end.
    """
    if not AVAILABLE:
        return _NoCallbacks()
    return _FitCallbacks(estimator, X, y, sample_weight, max_epochs, task_name)


class _NoCallbacks:
    """What :func:`fit_callbacks` gives without :mod:`sklearn.callback`."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def epoch_end(estimator, fitted_attributes, *, stopping):
    """Tell the callbacks of ``estimator``'s fit that an epoch ended.

    ``fitted_attributes()`` gives the attributes (the weights) that make the
    estimator predict as the network stands now; it is called only if a
    callback asks for the fitted estimator. ``stopping`` says that training
    stops after this epoch anyway (early stopping). Returns True if a
    callback asks to stop training; False outside :func:`fit_callbacks` or
    without callback support.
    """
    fit = estimator.__dict__.get(_FitCallbacks.ATTRIBUTE)
    if fit is None:
        return False
    return fit.on_epoch_end(fitted_attributes, stopping=stopping)


class _FitCallbacks:
    """The task tree of one fit: the root task, and one leaf per epoch.

    Each epoch's task begins when the epoch does (at the start of the fit,
    then at the end of the epoch before, unless training stops there), so
    that every ``on_fit_task_begin`` has its ``on_fit_task_end``. The root
    task ends only when the fit succeeds, with the fitted estimator; the
    callbacks are torn down whatever happens.
    """

    # Where the estimator holds its fit's tasks while it trains.
    ATTRIBUTE = "_callback_fit_tasks"

    def __init__(self, estimator, X, y, sample_weight, max_epochs, task_name):
        self._estimator = estimator
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self._data = {"X": X, "y": y, "metadata": metadata}
        self._max_epochs = max_epochs
        self._task_name = task_name
        self._epoch = None
        self._epochs_begun = 0

    def __enter__(self):
        estimator = self._estimator
        try:
            self._root = estimator._init_callback_context(
                task_name=self._task_name, max_subtasks=self._max_epochs
            )
            self._root.call_on_fit_task_begin(estimator=estimator, **self._data)
            self._begin_epoch()
        except BaseException:
            _tear_down(estimator)
            raise
        setattr(estimator, self.ATTRIBUTE, self)
        return self

    def on_epoch_end(self, fitted_attributes, *, stopping):
        """End the current epoch's task, and begin the next unless stopping."""
        epoch, self._epoch = self._epoch, None
        stop = epoch.call_on_fit_task_end(
            estimator=self._estimator,
            reconstruction_attributes=fitted_attributes,
            **self._data,
        )
        if not (stop or stopping):
            self._begin_epoch()
        return stop

    def __exit__(self, exc_type, exc, traceback):
        estimator = self._estimator
        estimator.__dict__.pop(self.ATTRIBUTE, None)
        try:
            if exc_type is None:
                if self._epoch is not None:
                    # Begun but never run (training ended sooner than planned):
                    # ended with nothing to report, as scikit-learn's solvers do.
                    self._epoch.call_on_fit_task_end(estimator=estimator)
                # {}: the estimator itself is fitted now.
                self._root.call_on_fit_task_end(
                    estimator=estimator, reconstruction_attributes={}, **self._data
                )
        finally:
            _tear_down(estimator)
        return False

    def _begin_epoch(self):
        if self._epochs_begun >= self._max_epochs:
            return
        self._epochs_begun += 1
        self._epoch = self._root.subcontext(task_name="epoch")
        self._epoch.call_on_fit_task_begin(estimator=self._estimator, **self._data)


if AVAILABLE:

    @with_callbacks
    def _tear_down(estimator):
        """Tear down the callbacks set up for this fit.

        The body is empty: scikit-learn's ``with_callbacks`` calls each
        callback's ``teardown`` as the function returns (raising their errors,
        if any), and forgets the fit's context. skmnist cannot decorate
        ``fit`` itself, as third-party estimators are told to: a failed fit
        puts every attribute back as it was, the context included, before a
        decorator around ``fit`` would look for it.
        """
