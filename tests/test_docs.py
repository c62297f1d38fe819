"""
The manual shows what the tools really do: example sessions and ``--help``
blocks of the tool pages match the tools (``docs/examples.py`` runs them;
``python docs/examples.py --update`` rewrites the pages), help texts are
plain text, and the API pages carry no raw reStructuredText markup.
"""
import html
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / 'docs'
spec = importlib.util.spec_from_file_location('docs_examples', DOCS / 'examples.py')
examples = importlib.util.module_from_spec(spec)
spec.loader.exec_module(examples)

pytestmark = pytest.mark.skipif(shutil.which('datadings-cat') is None,
                                reason='the console scripts are not installed')


@pytest.fixture(scope='module')
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp('sandbox')
    examples.make_sandbox(root)
    return root


@pytest.mark.parametrize('page', examples.PAGES, ids=lambda p: p.stem)
def test_example_session_output_is_real(page, sandbox):
    if page.name in examples.NO_SESSION:
        assert examples.find_session(page.read_text(encoding='utf-8')) is None
        pytest.skip(f'{page.name}: the tool serves until stopped, no example session')
    text = page.read_text(encoding='utf-8')
    match = examples.find_session(text)
    assert match is not None, f'{page.name} has no example session'
    for program in ('jq',):
        if f'| {program}' in match.group(1) and shutil.which(program) is None:
            pytest.skip(f'{program} is not installed')
    results = examples.run_page(page, sandbox)
    assert results
    diffs = examples.differences(results)
    assert not diffs, (f'{page.name}: the example session shows other output than the tools '
                       '(python docs/examples.py --update rewrites it):\n' + '\n'.join(diffs))


@pytest.mark.skipif(sys.version_info < (3, 10), reason="argparse says 'optional arguments' before 3.10")
@pytest.mark.parametrize('page', examples.PAGES, ids=lambda p: p.stem)
def test_usage_and_options_blocks_are_the_help_text(page):
    blocks = examples.help_blocks(page)
    assert [b[0] for b in blocks] == ['usage', 'options']
    for what, _, shown, actual in blocks:
        assert shown == actual, f'{page.name}: {what} block is not what --help prints'


def test_normalize_hides_only_timings():
    a = 'train.msgpack 100% 00:00<00:00, 3441.90it/s\n1000 samples written to x'
    b = 'train.msgpack 100% 00:01<00:00, 12.5it/s\n1000 samples written to x'
    assert examples.normalize(a) == examples.normalize(b)
    assert examples.normalize(a) != examples.normalize(a.replace('1000', '999'))


def test_screen_text_keeps_the_last_frame():
    raw = 'bar  10%\rbar  50%\rbar 100%\r\nnext line\r\n'
    assert examples.screen_text(raw) == 'bar 100%\nnext line'


_MARKUP = re.compile(r'``|:py:|:doc:|:func:|:class:|\.\. code-block')


def _tools():
    import tomllib
    scripts = tomllib.loads((DOCS.parent / 'pyproject.toml').read_text())['project']['scripts']
    return sorted(scripts)


def _writers():
    from datadings_like.commands.write import find_writers
    return list(find_writers())


@pytest.mark.skipif(sys.version_info < (3, 11), reason='tomllib')
def test_tool_help_is_plain_text():
    for tool in _tools():
        out = subprocess.run([tool, '--help'], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=60).stdout
        assert out.startswith('usage:'), tool
        assert not _MARKUP.search(out), f'{tool} --help shows markup: {_MARKUP.search(out).group(0)}'


@pytest.mark.parametrize('name', _writers())
def test_dataset_writer_help_is_plain_text(name):
    proc = subprocess.run([sys.executable, '-m', 'datadings_like.commands.write', name, '-h'],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = _MARKUP.search(proc.stdout)
    assert not found, f'datadings-write {name} -h shows markup: {found.group(0)}'


def test_api_pages_have_no_raw_markup(tmp_path):
    pytest.importorskip('sphinx')
    out = tmp_path / 'html'
    proc = subprocess.run([sys.executable, '-m', 'sphinx', '-q', '-b', 'html', str(DOCS), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    returns = re.compile(r'>Returns<span class="colon">:</span></dt>\s*<dd[^>]*>(.*?)</dd>', re.S)
    pages = sorted(out.glob('api/*.html'))
    assert pages
    for page in pages:
        source = page.read_text()
        text = re.sub(r'<div class="highlight.*?</div>', '', source, flags=re.S)
        text = html.unescape(re.sub(r'<[^>]+>', '', text))
        where = text.find('``')
        assert where < 0, f'{page.name}: raw markup in {text[max(0, where - 60):where + 40]!r}'
        # a Returns section parsed as a parameter list shows its text in bold
        for body in returns.findall(source):
            assert '<strong>' not in body, f'{page.name}: Returns section rendered as parameters: {body[:200]}'


def test_plain_text_strips_docstring_markup():
    from datadings_like.tools.argparse import plain_text
    text = ('Run ``python -m x`` or :py:func:`~datadings_like.tools.matlab.loadmat`, '
            'see :doc:`the manual <sets/demo>` and :py:class:`datadings_like.writer.FileWriter`::\n'
            '\n.. code-block:: console\n\n    $ ls\n')
    assert plain_text(text) == ('Run python -m x or loadmat, see the manual and '
                                'datadings_like.writer.FileWriter:\n\n\n    $ ls\n')
    assert plain_text(None) is None
