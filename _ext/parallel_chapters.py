"""Execute the chapters side by side: one Sphinx reader process per core.

Every chapter is a notebook executed when Sphinx reads it, and most of its cells run on one thread
(the training loops ask for one), so a serial build leaves all cores but one idle.  Jupyter Book 1's
command line has no ``--jobs`` option; this extension asks Sphinx for one reader per core instead,
and gives each chapter's kernel its share of the cores (``OMP_NUM_THREADS``, read by torch and
numpy's BLAS when they load) so that chapters running together do not oversubscribe the machine.

One limit comes with the execution cache: jupyter-cache keys a notebook by its code cells alone and
records an entry before it writes the executed notebook, so two pages whose code is identical, read
side by side, can match an entry whose notebook is not written yet (``KeyError: Notebook file does not
exist for cache record``).  The book's chapters never share all their code.
"""

from __future__ import annotations

import os

#: Extensions Jupyter Book loads that do not declare whether they are safe for parallel reading and
#: writing, though they are: sphinx-multitoc-numbering (loaded by sphinx-external-toc) only
#: renumbers sections once every chapter is read, in the main process; sphinx-jupyterbook-latex's
#: transforms change their own page's nodes alone, and its set-up runs for LaTeX builds only.
SAFE_UNDECLARED = ("sphinx_multitoc_numbering", "sphinx_jupyterbook_latex")


def _before_reading(app, env, docnames) -> None:
    """Every extension is loaded by now: mark :data:`SAFE_UNDECLARED`, and create the execution cache's
    database here, once, so that the readers do not race to create its tables."""
    for name in SAFE_UNDECLARED:
        if name in app.extensions:
            app.extensions[name].parallel_read_safe = True
            app.extensions[name].parallel_write_safe = True
    config = getattr(env, "mystnb_config", None)
    if config is not None and config.execution_mode == "cache" and config.execution_cache_path:
        from jupyter_cache import get_cache

        get_cache(config.execution_cache_path).list_cache_records()  # opening it creates the tables


def setup(app):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if app.parallel <= 1 and cores > 1:
        app.parallel = cores
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // app.parallel)))
    app.connect("env-before-read-docs", _before_reading)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
