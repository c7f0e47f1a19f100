"""Where the real data sets of ``../shared/data`` are, for tests that use them.

The data live next to the repository (``<repo>/../shared/data``, see its
README), or wherever ``FGEBM_SHARED_DATA`` points. A test that needs a file
that is not there is skipped with the path in the reason, rather than failing
on a checkout without the data.
"""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("FGEBM_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_data(*parts):
    """Path of ``parts`` under the shared data folder; skips the calling test when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (the data set folder; set FGEBM_SHARED_DATA to its location)")
    return path
