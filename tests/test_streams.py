"""Live sources: stream URLs (served here by a local HTTP server on 127.0.0.1) and camera indices,
for ``pympas segment`` / ``pympas.segment`` and ``pympas label``."""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
from helpers.processes import PYTHON, env, wait_for
from helpers.scenes import moving_blobs, write_video

import pympas
from pympas.cli import main
from pympas.files import read_mask
from pympas.video import VideoError, open_video, stream_name

FRAMES = 40


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; ``/drop/NAME`` sends half of NAME and closes the connection, and
    ``/slow/NAME`` sends NAME in small chunks with pauses (a live camera's pace)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        for prefix in ("/drop/", "/slow/"):
            if self.path.startswith(prefix):
                data = open(os.path.join(self.directory, self.path[len(prefix) :]), "rb").read()
                self.send_response(200)
                self.send_header("Content-Type", "video/x-msvideo")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    if prefix == "/drop/":
                        self.wfile.write(data[: len(data) // 2])
                    else:
                        for i in range(0, len(data), 2048):
                            self.wfile.write(data[i : i + 2048])
                            time.sleep(0.01)
                except OSError:
                    pass  # the client went away
                self.close_connection = True
                return
        super().do_GET()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("www")
    write_video(folder / "walk.avi", moving_blobs(FRAMES))
    long = moving_blobs(FRAMES)
    write_video(folder / "long.avi", np.concatenate([long, long[::-1]] * 4))
    handler = functools.partial(_Handler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from pympas.model import MPASNet

    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.manual_seed(0)
    state = {"model": MPASNet("w18-small").state_dict(), "step": 0, "config": {"arch": "w18-small"}}
    torch.save(state, path)
    return path


def test_a_stream_url_is_read_frame_by_frame_without_a_length(server):
    source = open_video(f"{server}/walk.avi")
    assert source.live and source.length is None and source.name == f"{server}/walk.avi"
    assert sum(1 for _ in source) == FRAMES
    assert source.ended == f"{server}/walk.avi: the stream ended after {FRAMES} frames " + (
        "(closed by the source, or the connection was lost)"
    )
    bounded = open_video(f"{server}/walk.avi", max_frames=7)
    assert sum(1 for _ in bounded) == 7 and "stopped after 7 frames" in bounded.ended


def test_duration_bounds_any_source_by_wall_clock():
    def slow():
        for frame in moving_blobs(FRAMES):
            time.sleep(0.02)
            yield frame

    source = open_video(slow(), duration=0.2)
    n = sum(1 for _ in source)
    assert 2 <= n < FRAMES and source.ended.startswith("iterable: stopped after 0.2 s")
    with pytest.raises(ValueError, match="duration must be > 0"):
        open_video(moving_blobs(3), duration=0)


def test_unopenable_streams_and_cameras_are_named_and_passwords_never_shown():
    assert (
        stream_name("rtsp://admin:secret@10.0.0.9:554/live") == "rtsp://admin:***@10.0.0.9:554/live"
    )
    with pytest.raises(VideoError, match=r"camera 9: cannot open the stream"):
        list(open_video(9))
    with pytest.raises(VideoError, match=r"http://user:\*\*\*@127\.0\.0\.1:9/x: cannot open"):
        list(open_video("http://user:pw@127.0.0.1:9/x"))


def test_segment_cli_on_a_stream_with_a_bound_writes_every_mask_and_the_rate(
    server, checkpoint, tmp_path, capsys
):
    out = tmp_path / "out"
    args = ["segment", str(checkpoint), f"{server}/walk.avi", "-o", str(out), "--device", "cpu"]
    assert main([*args, "--max-frames", "6", "--batch-size", "4"]) == 0
    text = capsys.readouterr()
    assert f"{server}/walk.avi: stopped after 6 frames (max_frames)" in text.err
    assert f"{server}/walk.avi: 6 masks -> {out / 'walk'} (" in text.out and "frames/s)" in text.out
    assert sorted(p.name for p in (out / "walk").iterdir()) == [f"{i:06d}.png" for i in range(6)]
    assert main([*args, "--max-frames", "0"]) == 2


def test_a_dropped_connection_ends_the_run_with_what_was_received(
    server, checkpoint, tmp_path, capsys
):
    out = tmp_path / "out"
    code = main(["segment", str(checkpoint), f"{server}/drop/walk.avi", "-o", str(out),
                 "--device", "cpu", "--overlay-video"])  # fmt: skip
    text = capsys.readouterr()
    assert code == 0, text.err
    masks = sorted((out / "walk").glob("*.png"))
    assert 2 <= len(masks) < FRAMES
    assert f"the stream ended after {len(masks)} frames (closed by the source, or the " in text.err
    assert [p.name for p in masks] == [f"{i:06d}.png" for i in range(len(masks))]
    import cv2

    cap = cv2.VideoCapture(str(next((out / "walk").glob("overlay.*"))))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(masks)
    cap.release()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_on_a_stream_keeps_every_mask_already_written(
    server, checkpoint, tmp_path, sig, code
):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [PYTHON, "-m", "pympas", "segment", str(checkpoint), f"{server}/slow/long.avi", "-o",
         str(out), "--device", "cpu", "--overlay-video", "--batch-size", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
        start_new_session=True, cwd=tmp_path,
    )  # fmt: skip
    assert wait_for(lambda: any(out.glob(".long.tmp-*/000003.png")), 120), "no masks written"
    os.killpg(proc.pid, sig)
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "interrupted; the masks of every frame received are in" in stdout
    masks = sorted((out / "long").glob("*.png"))
    assert len(masks) >= 4 and [p.name for p in masks] == [
        f"{i:06d}.png" for i in range(len(masks))
    ]
    for p in masks:
        assert read_mask(p).shape == (120, 160)  # every kept mask is complete
    import cv2

    cap = cv2.VideoCapture(str(next((out / "long").glob("overlay.*"))))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(masks)
    cap.release()
    assert sorted(p.name for p in out.iterdir()) == ["long"]  # no temporary left


def test_label_needs_a_bound_for_a_stream_and_labels_what_it_reads(server, tmp_path, capsys):
    url = f"{server}/walk.avi"
    with pytest.raises(ValueError, match="a live source needs a bound: max_frames or duration"):
        pympas.label(url, progress=False)
    out = tmp_path / "out"
    assert main(["label", url, "-o", str(out), "-q"]) == 2
    assert "needs a bound: --max-frames N or --duration S" in capsys.readouterr().err
    args = ["label", url, "-o", str(out), "-q", "--max-frames", "25", "--stride", "10"]
    assert main(args) == 0
    meta = json.loads((out / "walk" / "labels.json").read_text())
    assert meta["source"] == url and meta["frame_count"] == 25
    assert [f["index"] for f in meta["frames"]] == [0, 10, 20]
    assert meta["params"]["max_frames"] == 25
    capsys.readouterr()
    assert main(args) == 0
    assert "0 labelled, 1 skipped" in capsys.readouterr().out
