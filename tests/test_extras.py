"""Optional dependencies: one line naming the extra to install."""
import pytest

from datadings_like.tools.extras import MissingExtraError
from datadings_like.tools.extras import install_hint
from datadings_like.tools.extras import require


def test_require_returns_the_module():
    import json
    assert require('json', 'sets', 'testing') is json


def test_require_names_the_extra_in_one_line(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, 'tifffile', None)  # "import tifffile" fails
    with pytest.raises(MissingExtraError) as info:
        require('tifffile', 'sets', 'reading GeoTIFF files')
    message = str(info.value)
    assert '\n' not in message
    assert message.startswith('reading GeoTIFF files needs tifffile')
    assert "pip install '.[sets]'" in message
    assert isinstance(info.value, ImportError)


def test_install_hint_with_package():
    assert install_hint('video', 'opencv-python-headless').endswith('pip install opencv-python-headless')
