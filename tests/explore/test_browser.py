"""
The explorer's page in a real browser: headless Debian chromium, driven
over the DevTools protocol (``--remote-debugging-pipe``), loads the grid and
sample pages of a ``demo`` dataset, of a segmentation dataset and of a
dataset with damaged samples. The checks look at the DOM after the page's
scripts ran (keys, labels, images loaded with a non-zero size, the XSS key
shown as text) and at screenshots (not blank). One browser for the module.
"""
import os

import pytest

from explore.helpers import XSS_KEY
from explore.helpers import XSS_NOTE
from explore.helpers import Browser
from explore.helpers import chromium_path
from explore.helpers import not_blank
from datadings_like.explore import make_server
from datadings_like.reader import MsgpackReader

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason='chromium is not installed (apt-get install chromium; .ci/run installs it)')

IMAGES_LOADED = ("Array.from(document.querySelectorAll('{sel}'))"
                 ".map(i => [i.complete, i.naturalWidth, i.naturalHeight])")


@pytest.fixture(scope='module')
def server(datasets):
    srv = make_server([datasets['demo'], datasets['seg'], datasets['damaged']])
    thread = srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    srv.explorer.close()
    thread.join(10)


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp('chromium-profile'))
    yield b
    b.close()


@pytest.fixture(scope='module')
def shots(tmp_path_factory):
    """Directory for screenshots (DATADINGS_EXPLORE_SCREENSHOTS keeps them)."""
    keep = os.environ.get('DATADINGS_EXPLORE_SCREENSHOTS')
    if keep:
        os.makedirs(keep, exist_ok=True)
        return keep
    return str(tmp_path_factory.mktemp('screenshots'))


def loaded(browser, selector):
    images = browser.evaluate(IMAGES_LOADED.format(sel=selector))
    assert images, f'no images {selector}'
    return images


def texts(browser, selector):
    return browser.evaluate(f"Array.from(document.querySelectorAll('{selector}'))"
                            ".map(e => e.textContent)")


def save(png, shots, name):
    with open(os.path.join(shots, name), 'wb') as f:
        f.write(png)


def test_grid_of_demo_dataset(server, browser, datasets, shots):
    browser.open(server.url + '#/grid/0')
    with MsgpackReader(datasets['demo']) as reader:
        samples = [reader[i] for i in range(48)]
    from datadings_like.sets.demo import CLASSES
    assert texts(browser, '.tile .key') == [s['key'] for s in samples]
    assert texts(browser, '.tile .label') == [f'label {s["label"]} ({CLASSES[s["label"]]})'
                                              for s in samples]
    images = loaded(browser, '.tile img.thumb')
    assert len(images) == 48 and all(c and w > 0 and h > 0 for c, w, h in images)
    png = browser.screenshot()
    save(png, shots, 'grid-demo.png')
    assert not_blank(png)
    # the next page, then a key lookup through the form
    browser.evaluate("document.querySelectorAll('.controls button')[1].click()")
    browser.wait_for("location.hash.includes('start=48')")
    browser.wait_ready()
    assert texts(browser, '.tile .index')[0] == '#48'
    browser.evaluate("document.querySelector('input[placeholder=key]').value = 'train-00007';"
                     "document.querySelector('input[placeholder=key]').form.requestSubmit()")
    browser.wait_for("location.hash === '#/sample/0/7'")
    browser.wait_ready()
    assert texts(browser, 'h1.sample-key') == ['train-00007']


def test_sample_page_of_demo_dataset(server, browser, shots):
    browser.open(server.url + '#/sample/0/3')
    assert texts(browser, 'h1.sample-key') == ['train-00003']
    images = loaded(browser, '.field[data-kind=image] img')
    assert images == [[True, 64, 64]]
    assert texts(browser, '.field[data-kind=scalar] pre') == [str(_demo_label(server, 3))]
    png = browser.screenshot()
    save(png, shots, 'sample-demo.png')
    assert not_blank(png)


def _demo_label(server, index):
    return server.explorer.files[0].get(index)['label']


def test_overview_page(server, browser):
    browser.open(server.url + '#/')
    assert texts(browser, '.overview h1') == ['train.msgpack', 'val.msgpack', 'damaged.msgpack']
    assert texts(browser, '.overview .samples') == ['60', '6', '6']
    bars = browser.evaluate("document.querySelectorAll('.overview[data-file=\"0\"] svg rect').length")
    assert bars == 10
    assert 'circle 0' in texts(browser, '.overview[data-file="0"] svg text')
    browser.evaluate("document.querySelector('.overview[data-file=\"0\"] dd button').click()")
    browser.wait_for("document.querySelector('.verify').textContent.includes('data: OK')")


def test_grid_of_segmentation_dataset_shows_the_xss_key_as_text(server, browser, shots):
    browser.open(server.url + '#/grid/1')
    keys = texts(browser, '.tile .key')
    assert keys[1] == XSS_KEY and len(keys) == 6
    assert texts(browser, '.tile .label') == ['label 0 (Sky)', 'label 1 (Building)',
                                              'label 2 (Pole)'] * 2
    images = loaded(browser, '.tile img.thumb')
    assert len(images) == 6 and all(c and w > 0 for c, w, _ in images)
    assert browser.evaluate("document.querySelectorAll('main script').length") == 0
    assert browser.evaluate('window.__alerted === undefined && window.__xss === undefined')
    assert not_blank(browser.screenshot())


def test_sample_page_of_segmentation_dataset(server, browser, shots):
    browser.open(server.url + '#/sample/1/1')
    assert texts(browser, 'h1.sample-key') == [XSS_KEY]
    assert browser.evaluate("document.querySelectorAll('main script, main img[src=x]').length") == 0
    assert texts(browser, '.field[data-path="7"] pre') == [XSS_NOTE]
    for kind, count in (('image', 1), ('labelmap', 2), ('segments', 1), ('fixations', 1),
                        ('imagearray', 1)):
        images = loaded(browser, f'.field[data-kind={kind}] > .pics img')
        assert len(images) == count, kind
        assert all(c and w == 48 and h == 32 for c, w, h in images), (kind, images)
    legend = ' '.join(texts(browser, '.field[data-kind=labelmap] .legend span'))
    assert 'Road 3' in legend and 'Car 8' in legend
    assert 'Car' in ''.join(texts(browser, '.field[data-kind=segments] td'))
    assert browser.evaluate('window.__alerted === undefined && window.__xss === undefined')
    png = browser.screenshot()
    save(png, shots, 'sample-segmentation.png')
    assert not_blank(png)
    # the slider shows another slice of the image array
    first = browser.evaluate("document.querySelector('.field[data-kind=imagearray] .pics img').src")
    browser.evaluate("const s = document.querySelector('.field[data-kind=imagearray] input');"
                     "s.value = '2'; s.dispatchEvent(new Event('input'))")
    browser.wait_ready()
    second = browser.evaluate("document.querySelector('.field[data-kind=imagearray] .pics img').src")
    assert first.endswith('at=0') and second.endswith('at=2')
    assert loaded(browser, '.field[data-kind=imagearray] .pics img') == [[True, 48, 32]]
    # heat map instead of points
    browser.evaluate("Array.from(document.querySelectorAll('.field[data-kind=fixations] button'))"
                     ".pop().click()")
    browser.wait_ready()
    src = browser.evaluate("document.querySelector('.field[data-kind=fixations] .pics img').src")
    assert 'view=heat' in src or 'view=fixations' in src


def test_damaged_samples_show_errors_on_their_tiles(server, browser):
    browser.open(server.url + '#/grid/2')
    assert 'cannot be decoded' in texts(browser, '.tile.damaged .error')[0]
    assert len(texts(browser, '.tile .key')) == 5
    browser.wait_for("document.querySelectorAll('.tile .pic .error').length === 2")
    errors = texts(browser, '.tile .pic .error')
    assert all('no thumbnail' in e for e in errors)
    images = loaded(browser, '.tile img.thumb')
    assert sum(1 for c, w, _ in images if c and w > 0) == 3
    browser.open(server.url + '#/sample/2/2')
    assert 'cannot be decoded' in texts(browser, '.card .error')[0]


def test_stream_preview_page(server, browser, shots):
    browser.open(server.url + '#/stream/0')
    browser.evaluate("document.querySelector('button.run').click()")
    browser.wait_for("document.querySelectorAll('.batch img').length > 0")
    browser.wait_ready()
    images = loaded(browser, '.batch img')
    assert len(images) == 8 and all(c and w == 96 and h == 96 for c, w, h in images)
    assert not_blank(browser.screenshot())
    browser.evaluate("document.querySelector('textarea').value = '{\"bach_size\": 1}';"
                     "document.querySelector('button.run').click()")
    browser.wait_for("document.querySelector('.stream-out .error') !== null")
    assert "unknown option 'bach_size'" in texts(browser, '.stream-out .error')[0]
