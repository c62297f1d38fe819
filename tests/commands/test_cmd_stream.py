"""datadings-stream: streams datasets with a config, prints images/s, dumps batches."""
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

LINE = re.compile(r'^(\d+) images in (\d+) (batch|batches|sample|samples), ([\d.]+) seconds, '
                  r'([\d.]+|inf) images/s \(first (batch|sample) after ([\d.]+) seconds\)$', re.M)

CONFIG = {
    'transforms': [{'Decode': {'field': 'image'}}, {'RandomResizedCrop': {'size': 12}},
                   {'Flip': {'horizontal': True}}, {'ToArray': {'dtype': 'float32'}}],
    'batch_size': 8, 'shuffle': True, 'stratify': 'label',
}


def make_images(path, n, prefix='s'):
    """A dataset of ``n`` JPEGs of different sizes, labels 0..4."""
    from PIL import Image
    from datadings_like.writer import FileWriter
    with FileWriter(path, disable=True) as writer:
        for i in range(n):
            buf = io.BytesIO()
            Image.new('RGB', (20 + i % 7, 16 + i % 5), (i % 256, 80, 160)).save(buf, 'JPEG')
            writer.write({'key': f'{prefix}{i:04d}', 'image': buf.getvalue(), 'label': i % 5})
    return path


@pytest.fixture
def images(tmp_path):
    return make_images(tmp_path / 'images.msgpack', 40)


def write_config(tmp_path, config, name='stream.json'):
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def test_stream_prints_images_per_second(cli, tmp_path, images):
    config = write_config(tmp_path, CONFIG)
    result = cli.run('stream', '-c', config, images)
    assert result.returncode == 0, result.stderr
    match = LINE.search(result.stdout)
    assert match, result.stdout
    assert match.group(1) == '40' and match.group(2) == '5'
    assert '100%' in result.stderr  # progress bar with a total


def test_options_override_the_config(cli, tmp_path, images):
    config = write_config(tmp_path, CONFIG)
    result = cli.call('stream', '-q', '-c', config, '-b', '5', '-w', '2', '-e', '2', '--seed', '3',
                      images)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    match = LINE.search(result.stdout)
    assert match.group(1) == '80' and match.group(2) == '16'
    result = cli.call('stream', '-q', '-c', config, '-n', '3', '--threads', '-w', '2', images)
    assert LINE.search(result.stdout).group(1) == '24'


def test_yaml_config_and_sources(cli, tmp_path, images):
    pytest.importorskip('yaml')
    other = make_images(tmp_path / 'other.msgpack', 20, prefix='o')
    (tmp_path / 'stream.yaml').write_text(
        'transforms:\n  - Decode: {field: image}\n  - Resize: {size: 10}\n  - CenterCrop: {size: 10}\n'
        '  - ToArray\nbatch_size: 10\nepoch_size: 50\nshuffle: true\n'
        f'sources:\n  - {{path: "{images}", weight: 0.8}}\n'
        f'  - {{path: "{other}", weight: 0.2, label: 0}}\n')
    result = cli.call('stream', '-q', '-c', tmp_path / 'stream.yaml')
    assert result.returncode == 0, result.stderr
    match = LINE.search(result.stdout)
    assert match.group(1) == '50' and match.group(2) == '5'


def test_single_samples(cli, tmp_path, images):
    config = dict(CONFIG)
    del config['batch_size']
    result = cli.call('stream', '-q', '-c', write_config(tmp_path, config), images)
    match = LINE.search(result.stdout)
    assert match.group(1) == '40' and match.group(3) == 'samples'


def test_dump(cli, tmp_path, images):
    config = write_config(tmp_path, CONFIG)
    out = tmp_path / 'pictures'
    result = cli.call('stream', '-q', '-c', config, '--dump', '2', '--dump-dir', out, images)
    assert result.returncode == 0, result.stderr
    assert f'wrote the images of 2 batches to {out}' in result.stdout
    names = sorted(os.listdir(out))
    assert 'batch_0000.png' in names and 'batch_0001.png' in names
    assert len([n for n in names if n.endswith('_image.png')]) == 16


@pytest.mark.parametrize('config, words', [
    ({'transforms': ['Decode', 'Blur']}, ["unknown transform 'Blur'"]),
    ({'bach_size': 3}, ["stream.json: unknown option 'bach_size'"]),
    ({'batch_size': 0}, ['stream.json: batch_size must be at least 1']),
    ({'transforms': [{'Resize': {'size': -1}}]}, ['Resize', 'size']),
    ({'transforms': [{'Decode': {'field': 'picture'}}], 'batch_size': 4}, ["'picture'", 's0000']),
    ({'transforms': ['Decode', 'ToArray'], 'batch_size': 5}, ["field 'image' has shape"]),
    ({'stratify': 'colour'}, ["no field 'colour' to stratify by"]),
    ({'sources': [{'path': 'x.msgpack', 'wieght': 1}]}, ["unknown option 'wieght'"]),
])
def test_bad_config_gives_one_line_naming_the_problem(cli, tmp_path, images, config, words):
    args = ['-c', write_config(tmp_path, config)]
    if 'sources' not in config:
        args.append(images)
    cli.user_error(cli.run('stream', *args), words=words)


def test_config_file_errors(cli, tmp_path, images):
    cli.user_error(cli.run('stream', '-c', tmp_path / 'none.json', images), words=['none.json'])
    (tmp_path / 'bad.json').write_text('{"batch_size": 4,,}')
    cli.user_error(cli.run('stream', '-c', tmp_path / 'bad.json', images),
                   words=['bad.json: not valid JSON'])
    (tmp_path / 'bad.yaml').write_text('batch_size: [4\n')
    if subprocess.run([sys.executable, '-c', 'import yaml'], capture_output=True).returncode == 0:
        cli.user_error(cli.run('stream', '-c', tmp_path / 'bad.yaml', images),
                       words=['bad.yaml: not valid YAML'])
    cli.user_error(cli.run('stream', tmp_path / 'missing.msgpack'), words=['missing.msgpack'])
    cli.user_error(cli.run('stream'), status=2, words=['give dataset files'])
    cli.user_error(cli.run('stream', '-c', write_config(tmp_path, {}), tmp_path),
                   words=['is a directory'])


def test_yaml_without_pyyaml(cli, tmp_path, images):
    (tmp_path / 's.yaml').write_text('batch_size: 4\n')
    result = cli.run_patched('stream', ['-c', tmp_path / 's.yaml', images],
                             'import sys; sys.modules["yaml"] = None')
    cli.user_error(result, words=['needs PyYAML'])


def test_ctrl_c_stops_workers_and_leaves_no_shared_memory(cli, tmp_path, shm_root):
    path = make_images(tmp_path / 'many.msgpack', 4000)
    config = write_config(tmp_path, {**CONFIG, 'workers': 2, 'loop': True, 'batch_size': 64})
    proc = subprocess.Popen([sys.executable, '-m', 'datadings_like.commands.stream', '-q',
                             '-c', str(config), '-n', '100000', str(path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not os.listdir(shm_root) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.listdir(shm_root), 'the workers did not use the shared-memory directory'
    time.sleep(1)  # batches in flight
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ['datadings-stream: interrupted'], err
    assert os.listdir(shm_root) == []
