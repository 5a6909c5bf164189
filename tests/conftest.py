"""Shared fixtures: the real MNIST data set.

It is found as ``load_mnist()`` finds it (``tests/_helpers.find_mnist``):
``SKMNIST_DATA``, this project's checkout copy ``../shared/data/mnist.npz``,
the Keras cache, then one download into that cache. Tests that need MNIST
fail (they are never skipped) only when all of these fail, so a green run
always means they ran.
"""

import fcntl
import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path

# scikit-learn's array API check runs only when SciPy is imported with this
# set; without it the check is skipped rather than run.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest
from _helpers import find_mnist, in_ci, small_split

# -- the slow tests ---------------------------------------------------------------
#
# A plain `pytest` leaves out the tests marked `slow` (full-MNIST training, the
# hypothesis call sequences, the file fuzzing, the browser, fresh processes
# that import TensorFlow...), so that it finishes in a few minutes while still
# covering every module; `pytest --slow` runs everything, and so does CI
# (`.ci/run`, or any run with the environment variable CI set, as CI services
# do). A test is slow if it is marked `@pytest.mark.slow` in its module, if it
# uses one of SLOW_FIXTURES, or if its node id (as `pytest --collect-only -q`
# prints it, less the `tests/` folder) is listed in SLOW_TESTS: the node id
# itself, a test or class (all its parameters), a prefix that ends in `[`,
# `(` or `-` (of parameter ids), or a glob with `*` (brackets literal).
# Measured with `pytest --durations=0`; each entry says why it is slow.

SLOW_FIXTURES = {
    "tutorial_pipelines": "the tutorial network trained on all of MNIST, 3 times",
    "cnn_pipeline": "the ConvNet trained on all of MNIST for 10 epochs",
}

SLOW_TESTS = {
    # Hypothesis's rule-based state machines: hundreds of fit calls each.
    "test_sequences.py::TestMLPSequences": "call sequences",
    "test_sequences.py::TestCNNSequences": "call sequences",
    # scikit-learn's estimator checks of the networks: each trains its network
    # dozens of times. The preprocessor's stay (and the networks' contract with
    # scikit-learn is tested in test_classifier, test_pipeline and
    # test_network_contract).
    "test_common.py::test_sklearn_compatible_estimator[mlp-": "MLP checks",
    "test_common.py::test_sklearn_compatible_estimator[cnn-": "ConvNet checks",
    "test_common.py::test_sklearn_compatible_estimator[lenet5-": "LeNet-5 checks",
    "test_common.py::test_sklearn_compatible_estimator[resnet-": (
        "the residual network's checks"
    ),
    "test_common.py::test_sklearn_compatible_estimator[user_swish-": (
        "the user's network's checks"
    ),
    # The network contract and the call sequences on the ConvNet: the MLP's
    # stay, and the ConvNet's own tests (test_cnn) too. The other registered
    # networks' contract: their layers' own tests (test_layers,
    # test_architecture, test_network, test_user_network) stay.
    "test_network_contract.py::*[lenet5*": "LeNet-5 fits",
    "test_network_contract.py::*[resnet*": "residual network fits",
    "test_network_contract.py::*[user_swish*": "the user's network's fits",
    # The peers' expectations on the ConvNet and a NetworkClassifier: the
    # MLP's stay.
    "test_peers_sklearn.py::*[cnn*": "ConvNet fits",
    "test_peers_sklearn.py::*[network*": "NetworkClassifier fits",
    "test_peers_scikeras.py::*[cnn*": "ConvNet fits",
    "test_peers_scikeras.py::*[network*": "NetworkClassifier fits",
    "test_peers_skorch.py::*[cnn*": "ConvNet fits",
    "test_peers_skorch.py::*[network*": "NetworkClassifier fits",
    "test_network_contract.py::*[cnn*": "ConvNet fits",
    "test_sequences.py::*[cnn*": "ConvNet fits",
    # Cross-backend continuation in a second process (JAX or TensorFlow), both
    # ways (test_backends' other tests stay). CI runs all of test_backends on
    # every backend (it is marked `backend`).
    "test_backends.py::test_a_file_trained_here_continues_training_on_another_backend": (  # noqa: E501
        "a process on another backend"
    ),
    "test_backends.py::test_a_file_trained_on_another_backend_continues_training_here": (  # noqa: E501
        "a process on another backend"
    ),
    # Fresh processes with no backend, for the networks with convolutions
    # (the MLP's stays).
    "test_backends.py::test_a_file_predicts_in_a_process_with_no_backend[cnn]": (
        "a fresh process"
    ),
    "test_backends.py::test_a_file_predicts_in_a_process_with_no_backend[lenet5]": (
        "a fresh process"
    ),
    "test_backends.py::test_a_file_predicts_in_a_process_with_no_backend[resnet]": (
        "a fresh process"
    ),
    # The backend's ConvNet: its MNIST accuracy and its Keras model (the
    # others stay).
    "test_backends.py::test_learns_mnist_on_this_backend[cnn]": "a ConvNet fit",
    "test_backends.py::test_to_keras_runs_on_the_configured_backend[resnet]": (
        "the residual network in Keras"
    ),
    # The command line in a fresh process, and training on all of MNIST
    # (test_cli_predict's and test_cli's in-process tests stay).
    "test_cli_predict.py::test_predict_in_a_fresh_process_needs_no_tensorflow": (
        "a fresh process"
    ),
    "test_cli.py::test_saved_model_predicts": "an epoch on all of MNIST",
    "test_serve_labels.py::test_nan_classes_are_refused_at_start_up": (
        "a server process (the labels' in-process tests stay)"
    ),
    # Callbacks: the grid search in worker processes, and a fresh process
    # with sklearn.callback hidden (the sequential grid search's stays).
    "test_callbacks.py::test_callbacks_inside_a_parallel_grid_search": (
        "worker processes"
    ),
    "test_callbacks.py::test_without_sklearn_callback_the_estimators_are_as_before": (
        "a fresh process"
    ),
    # Servers that wait out their time limits (the other limits' tests stay).
    "test_serve_limits.py::test_slow_request_heads_are_dropped_and_health_answers": (
        "1,100 slow clients"
    ),
    "test_serve_workers.py::test_a_worker_that_cannot_start_stops_the_server": (
        "a server of two workers"
    ),
    "test_serve_workers.py::test_two_workers": (
        "a server of two workers (the start's own test stays)"
    ),
    # Fresh processes that import a backend-free skmnist (the same file's
    # in-process tests stay).
    "test_mlflow.py::test_pyfunc_runs_without_tensorflow_in_a_fresh_process": (
        "a fresh process"
    ),
    "test_user_network.py::test_a_saved_user_network_loads_in_a_fresh_process_once_its_module_is_imported": (  # noqa: E501
        "a fresh process"
    ),
    # The NumPy pass against Keras on all 10,000 test images (test_layers
    # compares every kind on random data).
    "test_inference.py::test_numpy_forward_pass_equals_keras_on_the_mnist_test_set": (
        "10,000 images through Keras"
    ),
    # Full MNIST, several epochs.
    "test_training_controls.py::test_early_stopping_on_full_mnist_restores_the_best_epoch": (  # noqa: E501
        "full MNIST"
    ),
    "test_training_controls.py::test_ten_partial_fits_match_ten_epochs": "20 fits",
    "test_training_controls.py::test_halving_search_uses_epochs_as_the_resource": (
        "a search"
    ),
    "test_training_controls.py::test_thread_count_does_not_change_the_model": (
        "two processes that train"
    ),
    "test_training_controls.py::test_no_tensorflow_noise_on_fit": (
        "a process that trains"
    ),
    "test_classifier.py::test_fixed_random_state_is_reproducible_across_processes": (
        "processes that train"
    ),
    "test_training_controls.py::test_randomized_search_over_the_pipeline": "a search",
    "test_onnx.py::test_convnet_pipeline_on_the_mnist_test_set": "a ConvNet fit",
    "test_serve_load.py::test_concurrent_clients": "a load test",
    "test_dask.py::test_grid_search_on_dask_equals_the_local_search": "a cluster",
    "test_dask.py::test_hyperband_drives_partial_fit": "a cluster",
    # Fresh processes (each imports scikit-learn, some TensorFlow).
    "test_inference.py::test_saved_model_predicts_in_a_fresh_process_without_tensorflow[.joblib]": (  # noqa: E501
        "a fresh process"
    ),
    "test_pipeline.py::test_loads_and_predicts_in_a_fresh_process_without_tensorflow": (
        "a fresh process"
    ),
    "test_inference.py::test_saved_model_predicts_in_a_fresh_process_without_tensorflow[.skmnist]": (  # noqa: E501
        "a fresh process (test_cli_predict's stays)"
    ),
    "test_inference.py::test_import_skmnist_is_light": "fresh processes",
    "test_onnx.py::test_import_skmnist_imports_no_onnx_package": "a fresh process",
    "test_serve.py::test_import_skmnist_leaves_the_server_out": "a fresh process",
    "test_serve.py::test_serving_never_imports_tensorflow": "a fresh process",
    "test_network_contract.py::test_loaded_model_predicts_without_tensorflow[mlp": (
        "a fresh process"
    ),
    "test_serve.py::test_server_process[": "a server process per signal",
    "test_serve.py::test_oversized_bodies_are_refused_unread": "a server process",
    "test_serve.py::test_pickle_files_need_the_flag": "a server process",
    "test_cli.py::test_train_end_to_end": "a process that trains on all of MNIST",
    "test_datasets.py::test_offline_the_error_is_all_that_is_printed": (
        "a process that imports TensorFlow"
    ),
    # The file fuzzing: thousands of damaged model files.
    "test_persistence_fuzz.py::test_flipped_bytes[": "fuzzing",
    "test_persistence_fuzz.py::test_edited_json_values_and_types[": "fuzzing",
    "test_persistence_fuzz.py::test_swapped_renamed_dropped_and_duplicated_members[": (
        "fuzzing"
    ),
    # A real browser (Chromium and chromedriver) and a server process.
    "test_serve_browser.py::": "a browser",
    # Photos of hundreds of digits, and the tutorial network that reads them.
    "test_images.py::test_photos_are_read_by_the_tutorial_network": (
        "the tutorial network"
    ),
}


def _is_listed_slow(nodeid):
    return any(_is_listed_slow_by(entry, nodeid) for entry in SLOW_TESTS)


def _is_listed_slow_by(entry, nodeid):
    if nodeid == entry:
        return True
    if "*" in entry:
        # A glob, "*" any text; brackets are literal (parameter ids).
        pattern = "".join({"[": "[[]", "]": "[]]"}.get(c, c) for c in entry)
        return fnmatch.fnmatchcase(nodeid, pattern)
    return nodeid.startswith(entry) and (
        entry[-1] in "[(-:" or nodeid[len(entry)] in "[(]:-"
    )


# Modules that go to the test processes in smaller parts than the file (see
# pytest_xdist_make_scheduler): each is minutes of work, and its module-scoped
# fixtures are quick to make (scikit-learn's 8 x 8 digits).
_CHECKS = "tests/test_common.py::test_sklearn_compatible_estimator["
_BY_NETWORK = "tests/test_network_contract.py::"
_BY_TEST = "tests/test_backends.py::"


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (the project's setting), but the modules of minutes
    go in parts: scikit-learn's checks and the network contract by network,
    test_backends test by test. As one file, each would keep one worker busy
    while the other sat idle at the end of the run; test_backends is most of
    CI's JAX and PyTorch passes (.ci/run), which it kept to one worker."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ByNetwork(LoadFileScheduling):
        def _split_scope(self, nodeid):
            if nodeid.startswith(_CHECKS):  # [mlp-check_fit_idempotent]: mlp
                return nodeid.split("-", 1)[0]
            if nodeid.startswith(_BY_NETWORK) and "[" in nodeid:
                # test_round_trips_predict_the_same[mlp-skops]: mlp
                network = nodeid.split("[", 1)[1].split("-", 1)[0].rstrip("]")
                return f"{_BY_NETWORK}[{network}]"
            if nodeid.startswith(_BY_TEST):
                return nodeid
            return super()._split_scope(nodeid)

    return ByNetwork(config, log)


def pytest_addoption(parser):
    parser.addoption(
        "--slow",
        action="store_true",
        help="also run the tests marked slow (full-MNIST training, call "
        "sequences, fuzzing, the browser): every test, as CI runs them",
    )


def _runs_slow_tests(config):
    return config.getoption("--slow") or in_ci() or bool(config.getoption("markexpr"))


def pytest_collection_modifyitems(config, items):
    for item in items:
        nodeid = item.nodeid.removeprefix("tests/")
        if _is_listed_slow(nodeid) or SLOW_FIXTURES.keys() & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
    _check_every_entry_is_used(config, items)
    if _runs_slow_tests(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config._skmnist_slow_left_out = len(slow)


def _check_every_entry_is_used(config, items):
    """A whole-suite run refuses SLOW_TESTS entries that match no test, so
    that renaming a test cannot quietly move it into the quick run."""
    here = Path(__file__).parent.resolve()
    whole = all(Path(arg).resolve() == here for arg in config.args)
    if not whole or config.getoption("keyword") or config.getoption("markexpr"):
        return
    nodeids = [item.nodeid.removeprefix("tests/") for item in items]
    unused = [
        entry
        for entry in SLOW_TESTS
        if not any(_is_listed_slow_by(entry, nodeid) for nodeid in nodeids)
    ]
    if unused:
        raise pytest.UsageError(
            f"tests/conftest.py: SLOW_TESTS entries that match no test: {unused}"
        )


def pytest_report_header(config):
    if _runs_slow_tests(config):
        return "skmnist: every test, the slow ones too"
    return "skmnist: the slow tests are left out; `pytest --slow` runs every test"


def pytest_terminal_summary(terminalreporter, config):
    left_out = getattr(config, "_skmnist_slow_left_out", 0)
    if left_out:
        terminalreporter.write_line(
            f"skmnist: {left_out} slow tests left out (deselected); "
            "`pytest --slow` runs them too, as CI does"
        )


@pytest.fixture(scope="session")
def mnist_path(tmp_path_factory):
    """Path of the local ``mnist.npz`` (or of a folder of IDX files)."""
    return find_mnist(lambda: tmp_path_factory.mktemp("mnist"))


@pytest.fixture(scope="session")
def mnist(mnist_path):
    """``(X_train, y_train), (X_test, y_test)`` of the real MNIST, read-only."""
    from skmnist import load_mnist

    (X_train, y_train), (X_test, y_test) = load_mnist(mnist_path)
    for array in (X_train, y_train, X_test, y_test):
        array.setflags(write=False)
    return (X_train, y_train), (X_test, y_test)


@pytest.fixture(scope="session")
def mnist_small(mnist):
    """A random 6,000/1,000 subset, flattened and scaled, for quick fits."""
    (X_train, y_train), (X_test, y_test) = mnist
    return small_split(X_train, y_train, X_test, y_test)


TUTORIAL_SEEDS = (1, 2, 3)


class _TutorialPipelines(Mapping):
    """The default pipeline fitted on all of MNIST, for each seed of
    ``TUTORIAL_SEEDS``, trained when first asked for.

    The test processes of a run (pytest-xdist's workers) share the fits: the
    first to ask for a seed trains it and saves it with ``skmnist.save``
    (under a lock), and the others load that file, which predicts exactly as
    the fitted pipeline (tests/test_persistence.py).
    """

    def __init__(self, mnist, folder):
        self._mnist = mnist
        self._folder = folder
        self._fitted = {}

    def __getitem__(self, seed):
        if seed not in TUTORIAL_SEEDS:
            raise KeyError(seed)
        if seed not in self._fitted:
            self._fitted[seed] = self._fit_or_load(seed)
        return self._fitted[seed]

    def _fit_or_load(self, seed):
        import skmnist
        from skmnist import make_mnist_pipeline

        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"tutorial-{seed}.skmnist"
        with open(self._folder / f"tutorial-{seed}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be training it
            if path.exists():
                return skmnist.load(path)
            (X_train, y_train), _ = self._mnist
            pipeline = make_mnist_pipeline(random_state=seed).fit(X_train, y_train)
            skmnist.save(pipeline, path)
            return pipeline

    def __iter__(self):
        return iter(TUTORIAL_SEEDS)

    def __len__(self):
        return len(TUTORIAL_SEEDS)


@pytest.fixture(scope="session")
def tutorial_pipelines(mnist, tmp_path_factory):
    """The default pipeline fitted on all of MNIST, once per seed (a mapping).

    Training the tutorial model costs tens of seconds, so the accuracy test
    and the persistence tests share these fits, across the test processes.
    """
    base = tmp_path_factory.getbasetemp()
    # Under pytest-xdist each worker's folder is in one folder of the run.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return _TutorialPipelines(mnist, shared / "tutorial-pipelines")


@pytest.fixture(scope="session")
def serve_model_path(mnist, tmp_path_factory):
    """A small pipeline (64 hidden units, one epoch on 5,000 digits) saved with
    ``skmnist.save``, for the ``skmnist serve`` tests, trained once."""
    import skmnist
    from skmnist import make_mnist_pipeline

    (X_train, y_train), _ = mnist
    pipeline = make_mnist_pipeline(hidden_layer_sizes=(64,), epochs=1, random_state=0)
    pipeline.fit(X_train[:5000], y_train[:5000])
    return skmnist.save(pipeline, tmp_path_factory.mktemp("serve") / "tiny.skmnist")
